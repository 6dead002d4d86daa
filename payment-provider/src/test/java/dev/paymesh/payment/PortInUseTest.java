package dev.paymesh.payment;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.Map;

import io.helidon.config.Config;

import org.junit.jupiter.api.Test;

import dev.paymesh.support.ServiceConfig;
import dev.paymesh.support.StartupException;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** A port that is taken must stop the start, so main() exits 1 instead of 0 with nothing served. */
class PortInUseTest {

    @Test
    void aTakenPortFailsTheStart() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            String port = Integer.toString(taken.getLocalPort());
            Config config = ServiceConfig.over(Main.class, Map.of("server.port", port, "server.host", "127.0.0.1"));

            StartupException failure = assertThrows(StartupException.class, () -> Main.start(config));

            assertThat(failure.getMessage(), containsString("is port " + port + " already in use?"));
        }
    }
}
