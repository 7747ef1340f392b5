//! Accounts, pools and routes, and the sync of the declared ones.

use super::*;

impl Registry {
    // ------------------------------------------------------------ declared config

    /// Makes the `source = config` accounts, pools and routes equal to the declared ones, in one
    /// transaction: inserts new, updates changed (an api row with a declared id is taken over),
    /// deletes config rows no longer declared, replaces pool members. `source = api` rows are
    /// left alone. The `source` field of the inputs is ignored. On any error (including
    /// [`RegistryError::Reference`] when a removal would orphan an api row, or a declared
    /// reference does not resolve) nothing changes.
    pub async fn sync_declared(
        &self,
        accounts: &[AccountRecord],
        pools: &[PoolRecord],
        routes: &[RouteRecord],
    ) -> Result<SyncReport> {
        let now = now_ms();
        let report = with_tx!(self, |c, m| m::sync_declared(
            c, accounts, pools, routes, now
        )
        .await)?;
        tracing::info!(
            added = report.added,
            updated = report.updated,
            removed = report.removed,
            "synced declared accounts, pools and routes"
        );
        Ok(report)
    }

    // ------------------------------------------------------------ accounts

    /// All accounts (config and api), ordered by id, with their stored `api_key`.
    pub async fn list_accounts(&self) -> Result<Vec<AccountRecord>> {
        with_conn!(self, |c, m| m::list_accounts(c).await)
    }

    /// One account; [`RegistryError::NotFound`] when missing.
    pub async fn get_account(&self, id: &str) -> Result<AccountRecord> {
        let found = with_conn!(self, |c, m| m::find_account(c, id).await)?;
        found.ok_or_else(|| RegistryError::NotFound {
            entity: "account",
            id: id.to_string(),
        })
    }

    /// Creates an API-managed account (stored with `source = api` whatever `account.source`
    /// says, including `api_key`). [`RegistryError::AlreadyExists`] if the id is taken.
    pub async fn create_account(&self, account: &AccountRecord) -> Result<AccountRecord> {
        self.check_sealed(&account.id, account.api_key.as_deref())?;
        let now = now_ms();
        with_tx!(self, |c, m| m::create_account(c, account, now).await)
    }

    /// Replaces every field of an API-managed account except `api_key` (use
    /// [`Registry::set_account_api_key`]). [`RegistryError::NotFound`],
    /// [`RegistryError::ReadOnly`] for config accounts.
    pub async fn update_account(&self, account: &AccountRecord) -> Result<AccountRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::update_account(c, account, now).await)
    }

    /// Replaces (`Some`) or clears (`None`) the inline key of an API-managed account.
    /// [`RegistryError::NotFound`], [`RegistryError::ReadOnly`] for config accounts.
    pub async fn set_account_api_key(&self, id: &str, api_key: Option<String>) -> Result<()> {
        self.check_sealed(id, api_key.as_deref())?;
        let now = now_ms();
        let key = api_key.as_deref();
        with_tx!(self, |c, m| m::set_account_api_key(c, id, key, now).await)
    }

    /// Deletes an API-managed account and its health row. [`RegistryError::NotFound`],
    /// [`RegistryError::ReadOnly`], [`RegistryError::Reference`] while it is a pool member.
    pub async fn delete_account(&self, id: &str) -> Result<()> {
        with_tx!(self, |c, m| m::delete_account(c, id).await)
    }

    // ------------------------------------------------------------ pools

    /// All pools with their ordered members, ordered by id.
    pub async fn list_pools(&self) -> Result<Vec<PoolRecord>> {
        with_conn!(self, |c, m| m::list_pools(c).await)
    }

    /// One pool; [`RegistryError::NotFound`] when missing.
    pub async fn get_pool(&self, id: &str) -> Result<PoolRecord> {
        let found = with_conn!(self, |c, m| m::find_pool(c, id).await)?;
        found.ok_or_else(|| RegistryError::NotFound {
            entity: "pool",
            id: id.to_string(),
        })
    }

    /// Creates an API-managed pool. [`RegistryError::AlreadyExists`];
    /// [`RegistryError::Reference`] if a member or the fallback pool does not exist;
    /// [`RegistryError::Invalid`] for duplicate members or a self fallback.
    pub async fn create_pool(&self, pool: &PoolRecord) -> Result<PoolRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::create_pool(c, pool, now).await)
    }

    /// Replaces strategy, members and fallback of an API-managed pool. Errors as
    /// [`Registry::create_pool`] plus [`RegistryError::NotFound`] and [`RegistryError::ReadOnly`].
    pub async fn update_pool(&self, pool: &PoolRecord) -> Result<PoolRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::update_pool(c, pool, now).await)
    }

    /// Deletes an API-managed pool and its member rows. [`RegistryError::NotFound`],
    /// [`RegistryError::ReadOnly`], [`RegistryError::Reference`] while a route uses it or
    /// another pool falls back to it.
    pub async fn delete_pool(&self, id: &str) -> Result<()> {
        with_tx!(self, |c, m| m::delete_pool(c, id).await)
    }

    // ------------------------------------------------------------ routes

    /// All routes, ordered by model.
    pub async fn list_routes(&self) -> Result<Vec<RouteRecord>> {
        with_conn!(self, |c, m| m::list_routes(c).await)
    }

    /// One route by logical model; [`RegistryError::NotFound`] when missing.
    pub async fn get_route(&self, model: &str) -> Result<RouteRecord> {
        let found = with_conn!(self, |c, m| m::find_route(c, model).await)?;
        found.ok_or_else(|| RegistryError::NotFound {
            entity: "route",
            id: model.to_string(),
        })
    }

    /// Creates an API-managed route. [`RegistryError::AlreadyExists`];
    /// [`RegistryError::Reference`] if the pool or fallback route does not exist.
    pub async fn create_route(&self, route: &RouteRecord) -> Result<RouteRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::create_route(c, route, now).await)
    }

    /// Replaces pool and fallback of an API-managed route. Errors as
    /// [`Registry::create_route`] plus [`RegistryError::NotFound`] and [`RegistryError::ReadOnly`].
    pub async fn update_route(&self, route: &RouteRecord) -> Result<RouteRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::update_route(c, route, now).await)
    }

    /// Deletes an API-managed route. [`RegistryError::NotFound`], [`RegistryError::ReadOnly`],
    /// [`RegistryError::Reference`] while another route falls back to it.
    pub async fn delete_route(&self, model: &str) -> Result<()> {
        with_tx!(self, |c, m| m::delete_route(c, model).await)
    }
}
