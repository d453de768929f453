//! SQL dialects and how they are chosen from OpenTelemetry's `db.system` values.

use std::fmt;
use std::str::FromStr;

/// A SQL dialect: decides which quotes open strings, whether backslash escapes, which
/// comment styles exist and which identifier quotes are legal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// Unknown database: accepts the union of the dialects' syntax, choosing on any
    /// ambiguity the reading that removes more.
    #[default]
    Generic,
    PostgreSql,
    /// MySQL and MariaDB.
    MySql,
    /// Microsoft SQL Server (T-SQL).
    MsSql,
    Oracle,
    Sqlite,
    Snowflake,
}

impl Dialect {
    /// Every dialect, in documentation order.
    pub const ALL: [Dialect; 7] = [
        Dialect::Generic,
        Dialect::PostgreSql,
        Dialect::MySql,
        Dialect::MsSql,
        Dialect::Oracle,
        Dialect::Sqlite,
        Dialect::Snowflake,
    ];

    /// The dialect for an OpenTelemetry `db.system` / `db.system.name` value
    /// (for example `postgresql`, `mysql`, `mariadb`, `microsoft.sql_server`, `mssql`,
    /// `oracle.db`, `oracle`, `sqlite`, `snowflake`). Anything else is [`Dialect::Generic`].
    pub fn from_db_system(db_system: &str) -> Dialect {
        let s = db_system.trim();
        let eq = |v: &str| s.eq_ignore_ascii_case(v);
        if eq("postgresql") || eq("postgres") || eq("cockroachdb") || eq("redshift") {
            Dialect::PostgreSql
        } else if eq("mysql") || eq("mariadb") || eq("tidb") {
            Dialect::MySql
        } else if eq("mssql") || eq("microsoft.sql_server") || eq("mssqlcompact") {
            Dialect::MsSql
        } else if eq("oracle") || eq("oracle.db") {
            Dialect::Oracle
        } else if eq("sqlite") {
            Dialect::Sqlite
        } else if eq("snowflake") {
            Dialect::Snowflake
        } else {
            Dialect::Generic
        }
    }

    /// The name used on the command line (`--dialect`).
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Generic => "generic",
            Dialect::PostgreSql => "postgresql",
            Dialect::MySql => "mysql",
            Dialect::MsSql => "mssql",
            Dialect::Oracle => "oracle",
            Dialect::Sqlite => "sqlite",
            Dialect::Snowflake => "snowflake",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for an unknown dialect name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownDialect;

impl fmt::Display for UnknownDialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "unknown SQL dialect; expected one of postgresql, mysql, mssql, oracle, sqlite, snowflake, generic",
        )
    }
}

impl std::error::Error for UnknownDialect {}

impl FromStr for Dialect {
    type Err = UnknownDialect;

    /// Accepts the command-line names and the `db.system` aliases (`mariadb`, `postgres`, …).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("generic") || s.eq_ignore_ascii_case("other_sql") {
            return Ok(Dialect::Generic);
        }
        match Dialect::from_db_system(s) {
            Dialect::Generic => Err(UnknownDialect),
            d => Ok(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_system_values_map_to_dialects() {
        assert_eq!(Dialect::from_db_system("postgresql"), Dialect::PostgreSql);
        assert_eq!(Dialect::from_db_system("mariadb"), Dialect::MySql);
        assert_eq!(
            Dialect::from_db_system("microsoft.sql_server"),
            Dialect::MsSql
        );
        assert_eq!(Dialect::from_db_system("oracle.db"), Dialect::Oracle);
        assert_eq!(Dialect::from_db_system("SQLite"), Dialect::Sqlite);
        assert_eq!(Dialect::from_db_system("snowflake"), Dialect::Snowflake);
        assert_eq!(Dialect::from_db_system("h2"), Dialect::Generic);
    }

    #[test]
    fn names_round_trip() {
        for d in Dialect::ALL {
            assert_eq!(d.name().parse::<Dialect>(), Ok(d));
        }
        assert_eq!("nosuchdb".parse::<Dialect>(), Err(UnknownDialect));
    }
}
