//! Embedded migrations, one set per backend, applied by a small runner over the
//! `rook_schema_migrations` table (see `backend_impl.rs`).

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// Version, strictly increasing.
    pub(crate) version: i64,
    /// Short description stored with the version.
    pub(crate) description: &'static str,
    /// The SQL (several statements).
    pub(crate) sql: &'static str,
}

impl Migration {
    /// FNV-1a 64 of the SQL text, hex; stored to detect a migration edited after it was applied.
    pub(crate) fn checksum(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.sql.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

/// Migrations for SQLite.
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        description: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        description: "protocols",
        sql: include_str!("../migrations/sqlite/0002_protocols.sql"),
    },
    Migration {
        version: 3,
        description: "audit client address",
        sql: include_str!("../migrations/sqlite/0003_audit_client_addr.sql"),
    },
    Migration {
        version: 4,
        description: "client_keys",
        sql: include_str!("../migrations/sqlite/0004_client_keys.sql"),
    },
    Migration {
        version: 5,
        description: "cluster",
        sql: include_str!("../migrations/sqlite/0005_cluster.sql"),
    },
    Migration {
        version: 6,
        description: "limit leases",
        sql: include_str!("../migrations/sqlite/0006_limit_leases.sql"),
    },
    Migration {
        version: 7,
        description: "usage event key",
        sql: include_str!("../migrations/sqlite/0007_usage_event_key.sql"),
    },
    Migration {
        version: 8,
        description: "shared health",
        sql: include_str!("../migrations/sqlite/0008_shared_health.sql"),
    },
    Migration {
        version: 9,
        description: "budget leases",
        sql: include_str!("../migrations/sqlite/0009_budget_leases.sql"),
    },
];

/// Migrations for PostgreSQL.
pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        description: "init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        description: "protocols",
        sql: include_str!("../migrations/postgres/0002_protocols.sql"),
    },
    Migration {
        version: 3,
        description: "audit client address",
        sql: include_str!("../migrations/postgres/0003_audit_client_addr.sql"),
    },
    Migration {
        version: 4,
        description: "client_keys",
        sql: include_str!("../migrations/postgres/0004_client_keys.sql"),
    },
    Migration {
        version: 5,
        description: "cluster",
        sql: include_str!("../migrations/postgres/0005_cluster.sql"),
    },
    Migration {
        version: 6,
        description: "limit leases",
        sql: include_str!("../migrations/postgres/0006_limit_leases.sql"),
    },
    Migration {
        version: 7,
        description: "usage event key",
        sql: include_str!("../migrations/postgres/0007_usage_event_key.sql"),
    },
    Migration {
        version: 8,
        description: "shared health",
        sql: include_str!("../migrations/postgres/0008_shared_health.sql"),
    },
    Migration {
        version: 9,
        description: "budget leases",
        sql: include_str!("../migrations/postgres/0009_budget_leases.sql"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_and_increase() {
        let a: Vec<i64> = SQLITE.iter().map(|m| m.version).collect();
        let b: Vec<i64> = POSTGRES.iter().map(|m| m.version).collect();
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
    }
}
