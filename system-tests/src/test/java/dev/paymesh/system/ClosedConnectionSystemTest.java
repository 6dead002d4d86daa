package dev.paymesh.system;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.helidon.common.media.type.MediaTypes;
import io.helidon.config.Config;
import io.helidon.http.Status;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.paymesh.support.ServiceConfig;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;
import static org.hamcrest.Matchers.is;

/**
 * invoice-app paying through a provider that closes the connection after every answer: each pooled
 * connection is dead by the time it is reused, and no payment may be lost to that.
 */
class ClosedConnectionSystemTest {

    private static final int INVOICES = 150;

    private WebServer paymentProvider;
    private ClosingProvider closing;
    private WebServer invoiceApp;

    @AfterEach
    void stop() throws IOException {
        if (invoiceApp != null) {
            invoiceApp.stop();
        }
        if (closing != null) {
            closing.close();
        }
        if (paymentProvider != null) {
            paymentProvider.stop();
        }
    }

    private static Config config(Class<?> service, Map<String, String> values) {
        Map<String, String> all = new HashMap<>(Map.of("server.port", "0", "server.host", "127.0.0.1"));
        all.putAll(values);
        return ServiceConfig.over(service, all);
    }

    /** Each invoice on its own request, and in batches of up to 64 (the default). */
    @ParameterizedTest
    @CsvSource({"HTTP_1_0, 1", "CONNECTION_CLOSE, 1", "HTTP_1_0, 64", "CONNECTION_CLOSE, 64"})
    void everyInvoiceIsPaidOnceWhenTheProviderClosesEachConnection(ClosingProvider.Style style, int batchSize)
            throws IOException {
        paymentProvider = dev.paymesh.payment.Main.start(config(dev.paymesh.payment.Main.class, Map.of()));
        closing = new ClosingProvider(paymentProvider.port(), style);
        invoiceApp = dev.paymesh.invoice.Main.start(config(dev.paymesh.invoice.Main.class, Map.of(
                "payment.provider.url", "http://127.0.0.1:" + closing.port(),
                "payment.provider.batch-size", Integer.toString(batchSize))));
        WebClient invoices = WebClient.builder().baseUri("http://127.0.0.1:" + invoiceApp.port()).build();
        List<String> ids = new ArrayList<>(List.of("I1", "I2", "I3"));
        for (int i = 0; i < INVOICES; i++) {
            String id = String.format("C%03d", i);
            ids.add(id);
            var created = invoices.post("/invoices").contentType(MediaTypes.APPLICATION_JSON)
                    .submit("{\"InvoiceId\":\"" + id + "\",\"Value\":1.25,\"Currency\":\"EUR\"}", String.class);
            assertThat(created.status(), is(Status.CREATED_201));
        }

        var response = invoices.post("/invoices/pay").request(String.class);

        assertThat(response.entity(), response.status(), is(Status.OK_200));
        assertThat(response.entity(), is("{\"paid\":[\"" + String.join("\",\"", ids.stream().sorted().toList())
                + "\"],\"failed\":[]}"));
        assertThat(invoices.get("/invoices").queryParam("paid", "false").request(String.class).entity(), is("[]"));
        for (String id : ids) {
            assertThat(id + " reached the provider once", closing.paymentPostsFor(id), is(1));
        }
        // One connection per answer: the provider really closed every one of them.
        assertThat(closing.paymentRequests(), greaterThanOrEqualTo((ids.size() + batchSize - 1) / batchSize));
        assertThat(closing.connections(), greaterThanOrEqualTo(closing.paymentRequests()));
    }
}
