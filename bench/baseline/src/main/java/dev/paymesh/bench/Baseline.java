package dev.paymesh.bench;

import java.nio.charset.StandardCharsets;

import io.helidon.http.HeaderValues;
import io.helidon.http.Status;
import io.helidon.webserver.WebServer;

/**
 * What Helidon alone does on this machine, for bench/run.sh to compare the services with: the same
 * answers on the same paths, without a store, an access log, metrics or JSON-P.
 * <ul>
 *   <li>{@code GET /invoices}: the bytes invoice-app answers for its three seeded invoices;</li>
 *   <li>{@code POST /payments/pay}: reads the whole body and answers {@code {"id":"..."}} with the
 *       value of its {@code "id"} key, as payment-provider does for a new payment.</li>
 * </ul>
 * The port is the first argument (default 18080); it listens on 127.0.0.1 only.
 */
public final class Baseline {

    private static final byte[] INVOICES = ("[{\"InvoiceId\":\"I1\",\"Value\":12.15,\"Currency\":\"EUR\",\"IsPaid\":false},"
            + "{\"InvoiceId\":\"I2\",\"Value\":10.25,\"Currency\":\"GBP\",\"IsPaid\":false},"
            + "{\"InvoiceId\":\"I3\",\"Value\":66.13,\"Currency\":\"DKK\",\"IsPaid\":false}]")
            .getBytes(StandardCharsets.UTF_8);
    private static final byte[] ID_KEY = "\"id\":\"".getBytes(StandardCharsets.US_ASCII);

    private Baseline() {
    }

    public static void main(String[] args) {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 18080;
        WebServer server = WebServer.builder()
                .host("127.0.0.1")
                .port(port)
                .routing(routing -> routing
                        .get("/invoices", (req, res) -> {
                            res.header(HeaderValues.CONTENT_TYPE_JSON);
                            res.send(INVOICES);
                        })
                        .post("/payments/pay", (req, res) -> {
                            byte[] body = req.content().as(byte[].class);
                            String id = id(body);
                            res.header(HeaderValues.CONTENT_TYPE_JSON);
                            if (id == null) {
                                res.status(Status.BAD_REQUEST_400).send("{\"error\":\"no id\"}");
                                return;
                            }
                            res.send(("{\"id\":\"" + id + "\"}").getBytes(StandardCharsets.UTF_8));
                        }))
                .build()
                .start();
        System.out.println("baseline listening on port " + server.port());
    }

    /** The string value of the first {@code "id":"} in the body, as the benchmark's requests write it. */
    private static String id(byte[] body) {
        outer:
        for (int i = 0; i + ID_KEY.length <= body.length; i++) {
            for (int k = 0; k < ID_KEY.length; k++) {
                if (body[i + k] != ID_KEY[k]) {
                    continue outer;
                }
            }
            int start = i + ID_KEY.length;
            for (int end = start; end < body.length; end++) {
                if (body[end] == '"') {
                    return new String(body, start, end - start, StandardCharsets.UTF_8);
                }
            }
            return null;
        }
        return null;
    }
}
