package dev.paymesh.payment;

import java.time.Duration;
import java.util.Optional;

import io.helidon.config.Config;

/**
 * Where the payments database is and how to use it, read from the {@code db} configuration node
 * (the environment variables DB_URL, DB_USER, DB_PASSWORD and DB_POOL_MAX_SIZE land there too).
 * Without a {@code db.url} there is no database and the service keeps payments in memory.
 *
 * @param url                   JDBC URL, for example {@code jdbc:postgresql://payment-db:5432/payments}
 * @param user                  database user
 * @param password              its password; never printed
 * @param maxPoolSize           most connections one replica holds open
 * @param connectionTimeout     how long a request waits for a connection before the store is reported unavailable
 * @param socketTimeout         how long one statement may wait on the network before its connection is dropped
 * @param migrationRetries      how many times startup retries reaching the database before it gives up
 * @param migrationRetryBackoff the longest pause between two of those attempts
 */
public record DatabaseSettings(String url, String user, String password, int maxPoolSize,
                               Duration connectionTimeout, Duration socketTimeout,
                               int migrationRetries, Duration migrationRetryBackoff) {

    /** The settings under the given node, or empty when it names no database URL. */
    public static Optional<DatabaseSettings> from(Config db) {
        Optional<String> url = db.get("url").asString().asOptional().map(String::strip).filter(s -> !s.isEmpty());
        return url.map(jdbcUrl -> new DatabaseSettings(
                jdbcUrl,
                db.get("user").asString().orElse(""),
                db.get("password").asString().orElse(""),
                positive(db, "pool.max-size", 10),
                Duration.ofMillis(positive(db, "pool.connection-timeout-millis", 2000)),
                Duration.ofSeconds(positive(db, "socket-timeout-seconds", 10)),
                db.get("migration.connect-retries").asInt().orElse(5),
                Duration.ofSeconds(positive(db, "migration.connect-retry-max-interval-seconds", 5))));
    }

    private static int positive(Config db, String key, int fallback) {
        int value = db.get(key).asInt().orElse(fallback);
        if (value <= 0) {
            throw new IllegalArgumentException("db." + key + " must be positive, got " + value);
        }
        return value;
    }

    /** The URL without its query part, which may carry credentials: safe to log. */
    public String safeUrl() {
        int query = url.indexOf('?');
        return query < 0 ? url : url.substring(0, query);
    }

    @Override
    public String toString() {
        return "DatabaseSettings[url=" + safeUrl() + ", user=" + user + ", maxPoolSize=" + maxPoolSize
                + ", connectionTimeout=" + connectionTimeout + ", socketTimeout=" + socketTimeout
                + ", migrationRetries=" + migrationRetries + "]";
    }
}
