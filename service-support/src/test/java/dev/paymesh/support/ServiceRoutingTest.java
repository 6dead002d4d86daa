package dev.paymesh.support;

import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.metrics.api.Metrics;
import io.helidon.webclient.api.ClientResponseTyped;
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

    /** The answer must be exactly this status and this JSON body. */
    private static void assertAnswer(ClientResponseTyped<String> response, Status status, String body) {
        assertThat(response.status(), is(status));
        assertThat(response.entity(), is(body));
    }

    @Test
    void anInvalidRequestIs400WithItsMessage() {
        assertAnswer(client.get("/invalid").request(String.class), Status.BAD_REQUEST_400,
                "{\"error\":\"name the field\"}");
    }

    @Test
    void aBodyOverTheLimitIs413AndOneWithinItIsRead() {
        assertAnswer(client.post("/body").submit("12345", String.class), Status.REQUEST_ENTITY_TOO_LARGE_413,
                "{\"error\":\"request body is larger than 4 bytes\"}");
        assertAnswer(client.post("/body").submit("1234", String.class), Status.OK_200, "1234");
    }

    @Test
    void anUnavailableStoreIs503WithRetryAfter() {
        var response = client.get("/away").request(String.class);
        assertAnswer(response, Status.SERVICE_UNAVAILABLE_503, "{\"error\":\"the store is away; try again later\"}");
        assertThat(response.headers().first(HeaderNames.RETRY_AFTER).orElse(""), is("7"));
    }

    @Test
    void anythingElseIs500WithoutItsDetails() {
        assertAnswer(client.get("/broken").request(String.class), Status.INTERNAL_SERVER_ERROR_500,
                "{\"error\":\"internal error; see the service log\"}");
    }

    @Test
    void anUnknownPathIsAJson404() {
        assertAnswer(client.get("/no/such/thing").request(String.class), Status.NOT_FOUND_404,
                "{\"error\":\"no such resource: /no/such/thing\"}");
    }
}
