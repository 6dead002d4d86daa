package dev.paymesh.support;

import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.metrics.api.Metrics;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.testing.junit5.DirectClient;
import io.helidon.webserver.testing.junit5.RoutingTest;
import io.helidon.webserver.testing.junit5.SetUpRoute;

import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;

/**
 * The answers every service gets from ServiceRouting, through real routing: each kind of failure a
 * handler throws becomes its status with a JSON body, and an unknown path a JSON 404.
 */
@RoutingTest
class ServiceRoutingTest {

    private final DirectClient client;

    ServiceRoutingTest(DirectClient client) {
        this.client = client;
    }

    @SetUpRoute
    static void routing(HttpRouting.Builder routing) {
        ServiceRouting.install(routing, Metrics.globalRegistry(),
                new ServiceRouting.Unavailable("the store is away; try again later", 7));
        routing.get("/invalid", (req, res) -> {
                    throw new InvalidRequestException("name the field");
                })
                .post("/body", (req, res) -> res.send(BodyReader.read(req, 4)))
                .get("/away", (req, res) -> {
                    throw new StoreUnavailableException("cannot read", new IllegalStateException("gone"));
                })
                .get("/broken", (req, res) -> {
                    throw new IllegalStateException("a bug with details no client may see");
                });
    }

    @Test
    void anInvalidRequestIs400WithItsMessage() {
        var response = client.get("/invalid").request(String.class);
        assertThat(response.status(), is(Status.BAD_REQUEST_400));
        assertThat(response.entity(), is("{\"error\":\"name the field\"}"));
    }

    @Test
    void aBodyOverTheLimitIs413AndOneWithinItIsRead() {
        var tooLarge = client.post("/body").submit("12345", String.class);
        assertThat(tooLarge.status(), is(Status.REQUEST_ENTITY_TOO_LARGE_413));
        assertThat(tooLarge.entity(), is("{\"error\":\"request body is larger than 4 bytes\"}"));
        assertThat(client.post("/body").submit("1234", String.class).entity(), is("1234"));
    }

    @Test
    void anUnavailableStoreIs503WithRetryAfter() {
        var response = client.get("/away").request(String.class);
        assertThat(response.status(), is(Status.SERVICE_UNAVAILABLE_503));
        assertThat(response.headers().first(HeaderNames.RETRY_AFTER).orElse(""), is("7"));
        assertThat(response.entity(), is("{\"error\":\"the store is away; try again later\"}"));
    }

    @Test
    void anythingElseIs500WithoutItsDetails() {
        var response = client.get("/broken").request(String.class);
        assertThat(response.status(), is(Status.INTERNAL_SERVER_ERROR_500));
        assertThat(response.entity(), is("{\"error\":\"internal error; see the service log\"}"));
    }

    @Test
    void anUnknownPathIsAJson404() {
        var response = client.get("/no/such/thing").request(String.class);
        assertThat(response.status(), is(Status.NOT_FOUND_404));
        assertThat(response.entity(), is("{\"error\":\"no such resource: /no/such/thing\"}"));
    }
}
