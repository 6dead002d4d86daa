package dev.paymesh.support;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

import io.helidon.config.Config;

/**
 * The settings under the {@code db} configuration node (DB_URL, DB_USER, DB_PASSWORD, DB_POOL_MAX_SIZE
 * ... land there too); the defaults are in each service's application.yaml. Without {@code db.url}
 * there is no database and the service keeps its data in memory.
 *
 * @param url               JDBC URL, for example {@code jdbc:postgresql://payment-db:5432/payments}
 * @param user              database user
 * @param password          its password; never printed
 * @param maxPoolSize       most connections one replica holds open
 * @param connectionTimeout how long a request waits for a connection before it is answered 503
 * @param socketTimeout     how long one statement may wait on the network before its connection is dropped
 * @param startupWait       how long start-up waits for a database that does not answer yet
 * @param healthTimeout     how long readiness waits for the database to answer
 */
public record DatabaseSettings(String url, String user, String password, int maxPoolSize,
                               Duration connectionTimeout, Duration socketTimeout, Duration startupWait,
                               Duration healthTimeout) {

    public DatabaseSettings {
        Objects.requireNonNull(url, "url");
        if (maxPoolSize < 1) {
            throw new IllegalArgumentException("db.pool.max-size must be at least 1, got " + maxPoolSize);
        }
        // HikariCP refuses less than 250 ms.
        if (connectionTimeout.toMillis() < 250) {
            throw new IllegalArgumentException("db.pool.connection-timeout-millis must be at least 250, got "
                    + connectionTimeout.toMillis());
        }
        if (startupWait.isNegative()) {
            throw new IllegalArgumentException("db.startup-wait-seconds must not be negative, got "
                    + startupWait.toSeconds());
        }
    }

    /**
     * The settings under the node, or empty when it names no database URL. A {@code user:password@}
     * written into the URL is taken out of it and used as the user and password, over
     * {@code db.user} and {@code db.password}, as the driver does with {@code ?user=&password=}.
     */
    public static Optional<DatabaseSettings> from(Config db) {
        return db.get("url").asString().map(String::strip).filter(url -> !url.isEmpty())
                .map(url -> Credentials.userInfo(url).orElse(new Credentials.UserInfo(url, null, null)))
                .map(split -> new DatabaseSettings(split.url(),
                        split.user() != null ? split.user() : db.get("user").asString().orElse(null),
                        split.password() != null ? split.password() : db.get("password").asString().orElse(null),
                        db.get("pool.max-size").asInt().get(),
                        Duration.ofMillis(db.get("pool.connection-timeout-millis").asLong().get()),
                        Duration.ofSeconds(db.get("socket-timeout-seconds").asLong().get()),
                        Duration.ofSeconds(db.get("startup-wait-seconds").asLong().get()),
                        Duration.ofMillis(db.get("health-timeout-millis").asLong().get())));
    }

    /** The URL with any password written into it masked: safe to log. */
    public String safeUrl() {
        return Credentials.masked(url);
    }

    @Override
    public String toString() {
        // Never the password, not even one written into the URL.
        return "url=" + safeUrl() + ", user=" + user + ", pool max-size=" + maxPoolSize
                + ", connection-timeout=" + connectionTimeout.toMillis() + "ms";
    }
}
