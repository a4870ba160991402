import pytest

from mesh.schema import MIGRATIONS_DIR, MigrationError, load_migrations, split_statements


def test_statements_are_split_and_comments_dropped():
    text = """-- a comment; with a semicolon
CREATE TABLE IF NOT EXISTS ks.a (id int PRIMARY KEY);
-- another
CREATE TABLE IF NOT EXISTS ks.b (
    id int PRIMARY KEY
) WITH comment = 'x;y';
"""
    assert split_statements(text) == (
        "CREATE TABLE IF NOT EXISTS ks.a (id int PRIMARY KEY)",
        "CREATE TABLE IF NOT EXISTS ks.b (\n    id int PRIMARY KEY\n) WITH comment = 'x;y'",
    )


def test_project_migrations_load_in_order_with_the_keyspace_filled_in():
    migrations = load_migrations(MIGRATIONS_DIR / "cql", "ks_under_test")
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].version == 1
    for migration in migrations:
        assert migration.statements
        assert all("{keyspace}" not in s for s in migration.statements)
        assert any("ks_under_test." in s for s in migration.statements)


def test_badly_named_or_duplicate_migrations_are_refused(tmp_path):
    (tmp_path / "1_first.cql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_lower_snake.cql"):
        load_migrations(tmp_path, "ks")
    (tmp_path / "1_first.cql").unlink()
    (tmp_path / "0001_a.cql").write_text("SELECT 1;")
    (tmp_path / "0001_b.cql").write_text("SELECT 2;")
    with pytest.raises(MigrationError, match="share a version"):
        load_migrations(tmp_path, "ks")


def test_checksum_changes_when_a_migration_is_edited(tmp_path):
    path = tmp_path / "0001_a.cql"
    path.write_text("CREATE TABLE {keyspace}.a (id int PRIMARY KEY);")
    before = load_migrations(tmp_path, "ks")[0].checksum
    path.write_text("CREATE TABLE {keyspace}.a (id bigint PRIMARY KEY);")
    assert load_migrations(tmp_path, "ks")[0].checksum != before
