package dev.paymesh.support;

import java.util.logging.Level;
import java.util.logging.Logger;

import io.helidon.webserver.http.HttpFeature;
import io.helidon.webserver.http.HttpRouting;

/** Ties a resource to the server's life: closed once the server has stopped and no request can use it. */
final class CloseOnStop implements HttpFeature {

    private static final Logger LOGGER = Logger.getLogger(CloseOnStop.class.getName());

    private final AutoCloseable resource;

    CloseOnStop(AutoCloseable resource) {
        this.resource = resource;
    }

    @Override
    public void setup(HttpRouting.Builder routing) {
        // adds no routes
    }

    @Override
    public void afterStop() {
        try {
            resource.close();
        } catch (Exception e) {
            LOGGER.log(Level.WARNING, "could not close " + resource, e);
        }
    }
}
