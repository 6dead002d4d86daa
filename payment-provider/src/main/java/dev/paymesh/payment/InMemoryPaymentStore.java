package dev.paymesh.payment;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Currency;
import java.util.Optional;

/**
 * Payments kept in this process only: for a laptop and for tests, lost on restart.
 *
 * <p>Every new invoice id is a payment kept for the life of the process, so the store is what fills
 * the heap. A {@code ConcurrentHashMap<String, Payment>} spent about 167 bytes a payment (map node,
 * table slot, the id's String and its array, the Payment and its BigDecimal); here each payment is
 * one byte array, about 40 bytes for a typical id, in an open-addressing table of its own: about 50
 * bytes a payment, a third. The array holds, in this order:
 * <ol>
 * <li>the id's length in chars, shifted left once, with the low bit set when the id has a char above
 *     U+00FF (a varint);</li>
 * <li>the id's chars, one byte each, or two (big-endian) when the low bit above is set: every String
 *     comes back exactly, lone surrogates included;</li>
 * <li>the currency's three-letter ISO 4217 code;</li>
 * <li>the amount's scale (a zigzag varint) and its unscaled value (two's complement, to the end).</li>
 * </ol>
 * The first two parts are the key: two ids are equal exactly when those bytes are. The table is split
 * in {@link #STRIPES} stripes by the key's hash, each guarded by its own monitor, so recording stays
 * atomic per id and callers of different stripes never wait for each other.
 */
public final class InMemoryPaymentStore implements PaymentStore {

    private static final int STRIPES = 64;
    private static final int STRIPE_SHIFT = Integer.SIZE - Integer.numberOfTrailingZeros(STRIPES);
    private static final int CURRENCY_CODE_LENGTH = 3;

    private final Stripe[] stripes = new Stripe[STRIPES];

    public InMemoryPaymentStore() {
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new Stripe();
        }
    }

    @Override
    public Outcome record(Payment payment) {
        byte[] encoded = encode(payment);
        int keyLength = keyLength(encoded);
        int hash = hash(encoded, keyLength);
        byte[] existing = stripes[hash >>> STRIPE_SHIFT].putIfAbsent(encoded, keyLength, hash);
        if (existing == null) {
            return Outcome.RECORDED;
        }
        return decode(existing).sameChargeAs(payment) ? Outcome.ALREADY_RECORDED : Outcome.CONFLICT;
    }

    @Override
    public Optional<Payment> find(String id) {
        Writer key = new Writer(id.length() * 2 + 5);
        writeId(key, id);
        byte[] bytes = key.bytes();
        int hash = hash(bytes, bytes.length);
        byte[] found = stripes[hash >>> STRIPE_SHIFT].get(bytes, bytes.length, hash);
        return found == null ? Optional.empty() : Optional.of(decode(found));
    }

    /** One share of the payments: an open-addressing table with linear probing, never more than 3/4 full. */
    private static final class Stripe {

        private byte[][] table = new byte[16][];
        private int size;

        synchronized byte[] get(byte[] key, int keyLength, int hash) {
            int mask = table.length - 1;
            for (int slot = hash & mask; ; slot = (slot + 1) & mask) {
                byte[] entry = table[slot];
                if (entry == null || sameKey(entry, key, keyLength)) {
                    return entry;
                }
            }
        }

        /** Stores the entry unless one with its key is there, and returns that one. */
        synchronized byte[] putIfAbsent(byte[] entry, int keyLength, int hash) {
            byte[] existing = get(entry, keyLength, hash);
            if (existing != null) {
                return existing;
            }
            if ((size + 1) * 4L > table.length * 3L) {
                grow();
            }
            insert(table, entry, hash);
            size++;
            return null;
        }

        private void grow() {
            byte[][] larger = new byte[table.length * 2][];
            for (byte[] entry : table) {
                if (entry != null) {
                    insert(larger, entry, hash(entry, keyLength(entry)));
                }
            }
            table = larger;
        }

        private static void insert(byte[][] into, byte[] entry, int hash) {
            int mask = into.length - 1;
            int slot = hash & mask;
            while (into[slot] != null) {
                slot = (slot + 1) & mask;
            }
            into[slot] = entry;
        }

        private static boolean sameKey(byte[] entry, byte[] key, int keyLength) {
            return entry.length >= keyLength && Arrays.equals(entry, 0, keyLength, key, 0, keyLength);
        }
    }

    static byte[] encode(Payment payment) {
        String id = payment.id();
        BigDecimal value = payment.value();
        byte[] unscaled = value.unscaledValue().toByteArray();
        Writer out = new Writer(id.length() * 2 + CURRENCY_CODE_LENGTH + unscaled.length + 10);
        writeId(out, id);
        byte[] code = payment.currency().getCurrencyCode().getBytes(StandardCharsets.US_ASCII);
        out.write(code, code.length);
        out.varint((value.scale() << 1) ^ (value.scale() >> 31));
        out.write(unscaled, unscaled.length);
        return out.bytes();
    }

    static Payment decode(byte[] entry) {
        Reader in = new Reader(entry);
        int header = in.varint();
        int chars = header >>> 1;
        boolean wide = (header & 1) != 0;
        char[] id = new char[chars];
        for (int i = 0; i < chars; i++) {
            id[i] = wide ? (char) (((entry[in.position++] & 0xFF) << 8) | (entry[in.position++] & 0xFF))
                    : (char) (entry[in.position++] & 0xFF);
        }
        String code = new String(entry, in.position, CURRENCY_CODE_LENGTH, StandardCharsets.US_ASCII);
        in.position += CURRENCY_CODE_LENGTH;
        int zigzag = in.varint();
        int scale = (zigzag >>> 1) ^ -(zigzag & 1);
        BigInteger unscaled = new BigInteger(entry, in.position, entry.length - in.position);
        return new Payment(new String(id), new BigDecimal(unscaled, scale), Currency.getInstance(code));
    }

    private static void writeId(Writer out, String id) {
        boolean wide = false;
        for (int i = 0; i < id.length() && !wide; i++) {
            wide = id.charAt(i) > 0xFF;
        }
        out.varint(id.length() << 1 | (wide ? 1 : 0));
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            if (wide) {
                out.write((byte) (c >>> 8));
            }
            out.write((byte) c);
        }
    }

    /** The length of the key, the header and the id's chars, at the start of an entry. */
    private static int keyLength(byte[] entry) {
        Reader in = new Reader(entry);
        int header = in.varint();
        int chars = header >>> 1;
        return in.position + ((header & 1) != 0 ? chars * 2 : chars);
    }

    private static int hash(byte[] bytes, int length) {
        int h = 1;
        for (int i = 0; i < length; i++) {
            h = 31 * h + bytes[i];
        }
        h *= 0x9E3779B9;
        return h ^ (h >>> 16);
    }

    private static final class Writer {

        private byte[] bytes;
        private int length;

        Writer(int capacity) {
            bytes = new byte[capacity];
        }

        void write(byte b) {
            if (length == bytes.length) {
                bytes = Arrays.copyOf(bytes, bytes.length * 2 + 1);
            }
            bytes[length++] = b;
        }

        void write(byte[] from, int count) {
            for (int i = 0; i < count; i++) {
                write(from[i]);
            }
        }

        void varint(int value) {
            int rest = value;
            while ((rest & ~0x7F) != 0) {
                write((byte) ((rest & 0x7F) | 0x80));
                rest >>>= 7;
            }
            write((byte) rest);
        }

        byte[] bytes() {
            return length == bytes.length ? bytes : Arrays.copyOf(bytes, length);
        }
    }

    private static final class Reader {

        private final byte[] bytes;
        private int position;

        Reader(byte[] bytes) {
            this.bytes = bytes;
        }

        int varint() {
            int value = 0;
            for (int shift = 0; ; shift += 7) {
                byte b = bytes[position++];
                value |= (b & 0x7F) << shift;
                if (b >= 0) {
                    return value;
                }
            }
        }
    }
}
