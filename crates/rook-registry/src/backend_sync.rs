// Syncing the declared (config-file) accounts, pools and routes (included by `backend.rs`).

/// Makes the `source = 'config'` rows equal to the declared set; must run in a transaction.
pub(crate) async fn sync_declared(
    c: &mut Conn,
    accounts: &[AccountRecord],
    pools: &[PoolRecord],
    routes: &[RouteRecord],
    now: i64,
) -> Result<SyncReport> {
    for a in accounts {
        validate_account(a)?;
    }
    for p in pools {
        validate_pool(p)?;
    }
    for r in routes {
        validate_route(r)?;
    }
    no_duplicates("account", accounts.iter().map(|a| a.id.as_str()))?;
    no_duplicates("pool", pools.iter().map(|p| p.id.as_str()))?;
    no_duplicates("route", routes.iter().map(|r| r.model.as_str()))?;

    let declared_accounts: BTreeSet<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    let declared_pools: BTreeSet<&str> = pools.iter().map(|p| p.id.as_str()).collect();
    let declared_routes: BTreeSet<&str> = routes.iter().map(|r| r.model.as_str()).collect();

    let existing_accounts: BTreeMap<String, AccountRecord> = list_accounts(c)
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let existing_pools: BTreeMap<String, PoolRecord> = list_pools(c)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let existing_routes: BTreeMap<String, RouteRecord> = list_routes(c)
        .await?
        .into_iter()
        .map(|r| (r.model.clone(), r))
        .collect();

    let mut report = SyncReport::default();

    // 1. Config routes no longer declared (nothing references routes by foreign key).
    for r in existing_routes.values() {
        if r.source == Source::Config && !declared_routes.contains(r.model.as_str()) {
            delete_route_row(c, &r.model).await?;
            report.removed += 1;
        }
    }

    // 2. Accounts: insert new, update changed, take over api rows.
    for a in accounts {
        let want = AccountRecord {
            source: Source::Config,
            ..a.clone()
        };
        match existing_accounts.get(&a.id) {
            None => {
                insert_account_row(c, &want, Source::Config, now).await?;
                report.added += 1;
            }
            Some(have) if *have != want => {
                update_account_row(c, &want, Source::Config, true, now).await?;
                report.updated += 1;
            }
            Some(_) => {}
        }
    }

    // 3. Pools (rows and members); fallbacks are checked at the end.
    for p in pools {
        let want = PoolRecord {
            source: Source::Config,
            ..p.clone()
        };
        for m in &want.members {
            if !account_exists(c, m).await? {
                return Err(RegistryError::reference(format!(
                    "pool '{}' lists member '{m}', which is not a known account",
                    p.id
                )));
            }
        }
        match existing_pools.get(&p.id) {
            None => {
                insert_pool_row(c, &want, Source::Config, now).await?;
                report.added += 1;
            }
            Some(have) if *have != want => {
                update_pool_row(c, &want, Source::Config, now).await?;
                report.updated += 1;
            }
            Some(_) => {}
        }
    }

    // 4. Routes.
    for r in routes {
        let want = RouteRecord {
            source: Source::Config,
            ..r.clone()
        };
        if !pool_exists(c, &want.pool).await? {
            return Err(RegistryError::reference(format!(
                "route '{}' points to pool '{}', which does not exist",
                r.model, r.pool
            )));
        }
        match existing_routes.get(&r.model) {
            None => {
                insert_route_row(c, &want, Source::Config, now).await?;
                report.added += 1;
            }
            Some(have) if *have != want => {
                update_route_row(c, &want, Source::Config, now).await?;
                report.updated += 1;
            }
            Some(_) => {}
        }
    }

    // 5. Config pools no longer declared.
    for p in existing_pools.values() {
        if p.source == Source::Config && !declared_pools.contains(p.id.as_str()) {
            let users = routes_using_pool(c, &p.id).await?;
            if !users.is_empty() {
                return Err(RegistryError::reference(format!(
                    "pool '{}' is no longer declared in the config file but is still used by route(s) {}",
                    p.id,
                    quoted_list(&users)
                )));
            }
            delete_pool_row(c, &p.id).await?;
            report.removed += 1;
        }
    }

    // 6. Config accounts no longer declared.
    for a in existing_accounts.values() {
        if a.source == Source::Config && !declared_accounts.contains(a.id.as_str()) {
            let users = pools_with_member(c, &a.id).await?;
            if !users.is_empty() {
                return Err(RegistryError::reference(format!(
                    "account '{}' is no longer declared in the config file but is still a member of pool(s) {}",
                    a.id,
                    quoted_list(&users)
                )));
            }
            delete_account_row(c, &a.id).await?;
            report.removed += 1;
        }
    }

    // 7. Fallback references (not foreign keys) must still resolve.
    for p in list_pools(c).await? {
        if let Some(f) = &p.fallback_pool {
            if !pool_exists(c, f).await? {
                return Err(RegistryError::reference(format!(
                    "pool '{}' falls back to pool '{f}', which does not exist",
                    p.id
                )));
            }
        }
    }
    for r in list_routes(c).await? {
        if let Some(f) = &r.fallback_route {
            if !route_exists(c, f).await? {
                return Err(RegistryError::reference(format!(
                    "route '{}' falls back to route '{f}', which does not exist",
                    r.model
                )));
            }
        }
    }
    Ok(report)
}

// ---------------------------------------------------------------- health
