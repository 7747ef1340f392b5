//! `db migrate` and `db backup`.

use rook_gateway::rook_config::redact_database_url;
use rook_gateway::rook_registry::{ConnectOptions, Registry};

use crate::common::{load_config, registry_error, CliError};
use crate::GlobalArgs;

/// Creates the database when missing and applies pending migrations.
pub(crate) async fn migrate(g: &GlobalArgs) -> Result<(), CliError> {
    let loaded = load_config(g)?;
    let url = &loaded.config.database_url;
    eprintln!("connecting to {} ...", redact_database_url(url));
    let registry = Registry::connect(
        url,
        ConnectOptions {
            create_if_missing: true,
            migrate: false,
            max_connections: 1,
            schema: None,
        },
    )
    .await
    .map_err(registry_error)?;
    let status = registry.migration_status().await.map_err(registry_error)?;
    if status.pending.is_empty() {
        crate::common::outln(&format!(
            "database is up to date (applied migrations: {})",
            join(&status.applied)
        ));
        registry.close().await;
        return Ok(());
    }
    eprintln!(
        "applying {} pending migration(s): {} ...",
        status.pending.len(),
        join(&status.pending)
    );
    let applied = registry.migrate().await.map_err(registry_error)?;
    for v in &applied {
        crate::common::outln(&format!("applied migration {v}"));
    }
    if applied.is_empty() {
        crate::common::outln("nothing applied (another process migrated concurrently)");
    }
    registry.close().await;
    Ok(())
}

/// Writes a consistent copy of a SQLite registry to `path`.
pub(crate) async fn backup(g: &GlobalArgs, path: &std::path::Path) -> Result<(), CliError> {
    let loaded = load_config(g)?;
    let registry = crate::common::open_existing(&loaded.config.database_url).await?;
    eprintln!("writing backup to {} ...", path.display());
    let result = registry.backup_to(path).await.map_err(registry_error);
    registry.close().await;
    result?;
    crate::common::outln(&format!("backup written to {}", path.display()));
    Ok(())
}

fn join(versions: &[i64]) -> String {
    if versions.is_empty() {
        return "none".to_string();
    }
    versions
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
