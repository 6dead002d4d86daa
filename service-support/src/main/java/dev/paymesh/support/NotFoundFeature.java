package dev.paymesh.support;

import io.helidon.common.Weighted;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpFeature;
import io.helidon.webserver.http.HttpRouting;

/**
 * Answers any request no route took with a JSON 404. It is a feature of the lowest weight so it is
 * set up after every other route, the observe endpoints included, and shadows none of them.
 */
final class NotFoundFeature implements HttpFeature, Weighted {

    @Override
    public void setup(HttpRouting.Builder routing) {
        routing.any((req, res) -> JsonResponses.error(res, Status.NOT_FOUND_404, "no such resource: " + req.path().path()));
    }

    @Override
    public double weight() {
        return 0.1;
    }
}
