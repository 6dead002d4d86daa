package dev.paymesh.payment;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;

import io.helidon.config.Config;
import io.helidon.config.ConfigSources;

import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.not;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Reading the database settings; MainProcessTest shows the environment variables reaching these keys. */
class DatabaseSettingsTest {

    private static Optional<DatabaseSettings> from(Map<String, String> values) {
        return DatabaseSettings.from(Config.just(ConfigSources.create(values)).get("db"));
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
        assertThat(settings.user(), is(""));
        assertThat(settings.maxPoolSize(), is(10));
        assertThat(settings.connectionTimeout(), is(Duration.ofSeconds(2)));
        assertThat(settings.socketTimeout(), is(Duration.ofSeconds(10)));
        assertThat(settings.migrationRetries(), is(5));
    }

    @Test
    void nonPositivePoolSizeIsRefusedByName() {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> from(Map.of("db.url", "jdbc:postgresql://db/payments", "db.pool.max-size", "0")));
        assertThat(refused.getMessage(), is("db.pool.max-size must be positive, got 0"));
    }

    @Test
    void passwordAndUrlQueryAreNeverPrinted() {
        DatabaseSettings settings = from(Map.of(
                "db.url", "jdbc:postgresql://db/payments?password=in-url",
                "db.password", "in-config")).orElseThrow();
        assertThat(settings.safeUrl(), is("jdbc:postgresql://db/payments"));
        assertThat(settings.toString(), not(containsString("in-url")));
        assertThat(settings.toString(), not(containsString("in-config")));
    }
}
