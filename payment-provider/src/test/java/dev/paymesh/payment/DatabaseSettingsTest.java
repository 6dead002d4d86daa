package dev.paymesh.payment;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;

import dev.paymesh.support.DatabaseSettings;
import dev.paymesh.support.ServiceConfig;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.nullValue;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Reading the database settings; MainProcessTest shows the environment variables reaching these keys. */
class DatabaseSettingsTest {

    private static Optional<DatabaseSettings> from(Map<String, String> values) {
        return DatabaseSettings.from(ServiceConfig.over(Main.class, values).get("db"));
    }

    @Test
    void noUrlMeansNoDatabase() {
        assertThat(from(Map.of()).isPresent(), is(false));
        assertThat(from(Map.of("db.user", "payments", "db.pool.max-size", "3")).isPresent(), is(false));
        assertThat(from(Map.of("db.url", "  ")).isPresent(), is(false));
    }

    @Test
    void defaultsAreUsedForWhatIsNotSet() {
        DatabaseSettings settings = from(Map.of("db.url", "jdbc:postgresql://db:5432/payments")).orElseThrow();
        assertThat(settings.user(), is(nullValue()));
        assertThat(settings.maxPoolSize(), is(10));
        assertThat(settings.connectionTimeout(), is(Duration.ofSeconds(2)));
        assertThat(settings.socketTimeout(), is(Duration.ofSeconds(10)));
        assertThat(settings.startupWait(), is(Duration.ofSeconds(30)));
        assertThat(settings.healthTimeout(), is(Duration.ofSeconds(1)));
    }

    @Test
    void nonPositivePoolSizeIsRefusedByName() {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> from(Map.of("db.url", "jdbc:postgresql://db/payments", "db.pool.max-size", "0")));
        assertThat(refused.getMessage(), is("db.pool.max-size must be at least 1, got 0"));
    }

    @Test
    void passwordAndUrlQueryAreNeverPrinted() {
        DatabaseSettings settings = from(Map.of(
                "db.url", "jdbc:postgresql://db/payments?password=in-url",
                "db.password", "in-config")).orElseThrow();
        assertThat(settings.safeUrl(), is("jdbc:postgresql://db/payments?password=***"));
        assertThat(settings.toString(), not(containsString("in-url")));
        assertThat(settings.toString(), not(containsString("in-config")));
    }
}
