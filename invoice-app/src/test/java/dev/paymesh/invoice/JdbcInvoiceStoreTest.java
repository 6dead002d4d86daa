package dev.paymesh.invoice;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;

/** The store contract, in a real PostgreSQL: each test gets a fresh database the migrations seeded. */
class JdbcInvoiceStoreTest extends InvoiceStoreContract {

    private final List<InvoiceDatabase> opened = new ArrayList<>();

    @Override
    InvoiceStore seededStore(Duration lease) {
        TestPostgres.Database database = TestPostgres.newDatabase();
        InvoiceDatabase pool = InvoiceDatabase.open(settings(database.url()));
        opened.add(pool);
        return new JdbcInvoiceStore(pool.dataSource(), lease);
    }

    static InvoiceDatabase.Settings settings(String url) {
        return new InvoiceDatabase.Settings(url, TestPostgres.USER, TestPostgres.PASSWORD, 10,
                Duration.ofMillis(500), Duration.ofSeconds(10), Duration.ZERO);
    }

    @AfterEach
    void closePools() {
        opened.forEach(InvoiceDatabase::close);
    }
}
