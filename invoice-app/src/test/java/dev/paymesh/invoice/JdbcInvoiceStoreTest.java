package dev.paymesh.invoice;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;

import dev.paymesh.support.Database;
import dev.paymesh.support.DatabaseSettings;

/** The store contract, in a real PostgreSQL: each test gets a fresh database the migrations seeded. */
class JdbcInvoiceStoreTest extends InvoiceStoreContract {

    private final List<Database> opened = new ArrayList<>();

    @Override
    InvoiceStore seededStore(Duration lease) {
        TestPostgres.Database database = TestPostgres.newDatabase();
        Database pool = open(database.url());
        opened.add(pool);
        return new JdbcInvoiceStore(pool.dataSource(), lease);
    }

    static DatabaseSettings settings(String url) {
        return new DatabaseSettings(url, TestPostgres.USER, TestPostgres.PASSWORD, 10,
                Duration.ofMillis(500), Duration.ofSeconds(10), Duration.ZERO, Duration.ofSeconds(1));
    }

    /** The invoice database at the URL, migrated, as the service opens it. */
    static Database open(String url) {
        return Database.open(settings(url), "invoice", "invoice-app");
    }

    @AfterEach
    void closePools() {
        opened.forEach(Database::close);
    }
}
