package dev.paymesh.support;

import java.net.MalformedURLException;
import java.net.URI;
import java.net.URL;
import java.util.Map;

import io.helidon.config.Config;
import io.helidon.config.ConfigSources;

/**
 * A service's configuration as its tests (and anything that starts it in-process) see it: the
 * given values over the service's own application.yaml, without the environment. The YAML is the
 * one beside the service's classes, so two services started in one JVM each get their own.
 */
public final class ServiceConfig {

    private ServiceConfig() {
    }

    public static Config over(Class<?> service, Map<String, String> values) {
        return Config.just(ConfigSources.create(values), ConfigSources.url(defaults(service)));
    }

    private static URL defaults(Class<?> service) {
        URL location = service.getProtectionDomain().getCodeSource().getLocation();
        String base = location.toString();
        try {
            return base.endsWith(".jar")
                    ? URI.create("jar:" + base + "!/application.yaml").toURL()
                    : URI.create(base + (base.endsWith("/") ? "" : "/") + "application.yaml").toURL();
        } catch (MalformedURLException e) {
            throw new IllegalStateException("no application.yaml beside " + service.getName() + " at " + base, e);
        }
    }
}
