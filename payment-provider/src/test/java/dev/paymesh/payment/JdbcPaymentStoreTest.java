package dev.paymesh.payment;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import dev.paymesh.support.Database;

/** The store contract for the PostgreSQL store, on a real server with the real migrations. */
class JdbcPaymentStoreTest extends PaymentStoreContract {

    private static Database database;

    @BeforeAll
    static void openDatabase() {
        database = TestPostgres.open(TestPostgres.newDatabase());
    }

    @AfterAll
    static void closeDatabase() {
        database.close();
    }

    @Override
    PaymentStore emptyStore() {
        TestPostgres.execute(database.dataSource(), "TRUNCATE payments");
        return new JdbcPaymentStore(database.dataSource());
    }
}
