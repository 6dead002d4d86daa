package dev.paymesh.support;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32;

import javax.sql.DataSource;

/**
 * Whether every migration of a location is already applied, told by one query on Flyway's history
 * table, so that a start on a current schema (every restart, every replica after the first) does not
 * load Flyway at all. Only the plain case is decided here: versioned SQL migrations
 * ({@code V<n>__<description>.sql}) in one directory or jar, every one of them applied successfully
 * with the checksum Flyway computes for the script as it is now, and nothing else in the history.
 * Anything else (a pending or failed migration, a changed script, no history table yet, another kind
 * of migration, a second copy of the location) is left to Flyway's migrate, which applies, validates
 * and locks as before.
 */
public final class AppliedMigrations {

    private static final Pattern VERSIONED = Pattern.compile("V([1-9][0-9]*)__([^/]+)\\.sql");

    private AppliedMigrations() {
    }

    /**
     * The schema version when the history holds exactly the migrations in {@code location} (a
     * class path directory such as {@code db/migration/payment}), each applied successfully and
     * unchanged since; empty whenever Flyway has to look.
     */
    public static Optional<String> currentVersion(DataSource dataSource, String location) {
        Optional<Map<String, Migration>> scripts = scripts(location);
        if (scripts.isEmpty() || scripts.get().isEmpty()) {
            return Optional.empty();
        }
        Map<String, Migration> applied = new HashMap<>();
        try (Connection connection = dataSource.getConnection();
             Statement statement = connection.createStatement();
             ResultSet rows = statement.executeQuery(
                     "SELECT version, description, checksum, type, success FROM flyway_schema_history")) {
            while (rows.next()) {
                String version = rows.getString(1);
                String description = rows.getString(2);
                int checksum = rows.getInt(3);
                boolean noChecksum = rows.wasNull();
                String type = rows.getString(4);
                boolean success = rows.getBoolean(5);
                if (!success || !"SQL".equals(type) || version == null || noChecksum
                        || applied.put(version, new Migration(description, checksum)) != null) {
                    return Optional.empty();
                }
            }
        } catch (SQLException e) {
            // No history table yet, or it cannot be read: Flyway creates it, or says what is wrong.
            return Optional.empty();
        }
        if (!applied.equals(scripts.get())) {
            return Optional.empty();
        }
        return Optional.of(Collections.max(applied.keySet(), (a, b) -> Long.compare(Long.parseLong(a), Long.parseLong(b))));
    }

    /**
     * Version to description and checksum of every script in the location, as Flyway records them;
     * empty when it is not the plain case.
     */
    static Optional<Map<String, Migration>> scripts(String location) {
        try {
            List<URL> copies = Collections.list(AppliedMigrations.class.getClassLoader().getResources(location));
            if (copies.size() != 1) {
                return Optional.empty();
            }
            Map<String, Migration> scripts = new HashMap<>();
            for (Script script : list(copies.getFirst(), location)) {
                Matcher versioned = VERSIONED.matcher(script.name());
                if (!versioned.matches() || scripts.put(versioned.group(1),
                        new Migration(versioned.group(2).replace('_', ' '), script.checksum())) != null) {
                    return Optional.empty();
                }
            }
            return Optional.of(scripts);
        } catch (IOException | UncheckedIOException | URISyntaxException e) {
            return Optional.empty();
        }
    }

    /** A migration as Flyway's history records it. */
    record Migration(String description, int checksum) {
    }

    private record Script(String name, int checksum) {
    }

    private static List<Script> list(URL directory, String location) throws IOException, URISyntaxException {
        List<Script> scripts = new ArrayList<>();
        switch (directory.getProtocol()) {
            case "jar" -> {
                JarURLConnection connection = (JarURLConnection) directory.openConnection();
                connection.setUseCaches(false);
                try (JarFile jar = connection.getJarFile()) {
                    String prefix = location.endsWith("/") ? location : location + "/";
                    for (JarEntry entry : Collections.list(jar.entries())) {
                        String name = entry.getName();
                        if (name.startsWith(prefix) && !entry.isDirectory()) {
                            try (InputStream in = jar.getInputStream(entry)) {
                                scripts.add(new Script(name.substring(prefix.length()), checksum(in)));
                            }
                        }
                    }
                }
            }
            case "file" -> {
                try (Stream<Path> files = Files.list(Path.of(directory.toURI()))) {
                    for (Path file : files.toList()) {
                        if (Files.isDirectory(file)) {
                            scripts.add(new Script(file.getFileName() + "/", 0));
                        } else {
                            try (InputStream in = Files.newInputStream(file)) {
                                scripts.add(new Script(file.getFileName().toString(), checksum(in)));
                            }
                        }
                    }
                }
            }
            default -> throw new IOException("cannot list " + directory);
        }
        return scripts;
    }

    /**
     * The checksum Flyway records for a SQL migration: CRC-32 over the script's lines read as UTF-8,
     * without their line breaks and without a byte order mark at the start.
     */
    static int checksum(InputStream script) throws IOException {
        CRC32 crc = new CRC32();
        BufferedReader reader = new BufferedReader(new InputStreamReader(script, StandardCharsets.UTF_8));
        String line = reader.readLine();
        if (line != null && line.startsWith("\uFEFF")) {
            line = line.substring(1);
        }
        for (; line != null; line = reader.readLine()) {
            crc.update(line.getBytes(StandardCharsets.UTF_8));
        }
        return (int) crc.getValue();
    }
}
