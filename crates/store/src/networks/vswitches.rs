//! vSwitches' rows: inside their VPC and apart from their siblings (the domain's check, in the
//! insert's transaction), a default one per VPC and zone, deleted only when no instance uses them.
use super::*;

impl Store {
    pub async fn vswitch(&self, account_id: &str, vswitch_id: &str) -> Result<Option<VSwitchRecord>> {
        let row = sqlx::query("SELECT * FROM vswitches WHERE account_id = ? AND vswitch_id = ?")
            .bind(account_id)
            .bind(vswitch_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a vSwitch"))?;
        row.as_ref().map(VSwitchRecord::from_row).transpose()
    }

    /// Insert a vSwitch once `check` accepts it against its VPC (None: not this account's) and
    /// the VPC's other vSwitches, all read in the writing transaction.
    pub async fn insert_vswitch<E>(
        &self,
        vswitch: &VSwitchRecord,
        check: impl FnOnce(Option<&VpcRecord>, &[VSwitchRecord]) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<(), E>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let vpc = vpc_in(&mut tx, &vswitch.account_id, &vswitch.vpc_id).await?;
        let siblings = match &vpc {
            Some(v) => vswitches_of(&mut tx, &v.vpc_id).await?,
            None => Vec::new(),
        };
        if let Err(e) = check(vpc.as_ref(), &siblings) {
            return Ok(Err(e));
        }
        insert_vswitch_row(&mut tx, vswitch).await?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(()))
    }

    /// A VPC's vSwitches (the data path builds the VPC's network from them).
    pub async fn vswitches_in_vpc(&self, vpc_id: &str) -> Result<Vec<VSwitchRecord>> {
        let mut conn = self.reader().acquire().await.map_err(db("reading vSwitches"))?;
        vswitches_of(&mut conn, vpc_id).await
    }

    /// The default vSwitch of a VPC in a zone, if it has one.
    pub async fn default_vswitch(&self, vpc_id: &str, zone_id: &str) -> Result<Option<VSwitchRecord>> {
        let row = sqlx::query("SELECT * FROM vswitches WHERE vpc_id = ? AND zone_id = ? AND is_default = 1")
            .bind(vpc_id)
            .bind(zone_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a default vSwitch"))?;
        row.as_ref().map(VSwitchRecord::from_row).transpose()
    }

    /// Insert a default vSwitch whose block `pick` chooses from its VPC's vSwitches (`None`:
    /// none is inserted, e.g. another request made it first). Returns the record as stored.
    pub async fn insert_default_vswitch(
        &self,
        candidate: &VSwitchRecord,
        pick: impl FnOnce(&[VSwitchRecord]) -> Option<String>,
    ) -> Result<Option<VSwitchRecord>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let siblings = vswitches_of(&mut tx, &candidate.vpc_id).await?;
        let Some(cidr_block) = pick(&siblings) else { return Ok(None) };
        let vswitch = VSwitchRecord { cidr_block, ..candidate.clone() };
        insert_vswitch_row(&mut tx, &vswitch).await?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Some(vswitch))
    }

    /// Change a vSwitch's name and description (each when given); false when it is not found.
    pub async fn update_vswitch(
        &self,
        account_id: &str,
        vswitch_id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<bool> {
        let done = self
            .write(
                sqlx::query(
                    "UPDATE vswitches SET name = COALESCE(?, name), description = COALESCE(?, description)
                     WHERE account_id = ? AND vswitch_id = ?",
                )
                .bind(name)
                .bind(description)
                .bind(account_id)
                .bind(vswitch_id),
            )
            .await
            .map_err(db("updating a vSwitch"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Delete a vSwitch that no instance uses.
    pub async fn delete_vswitch(&self, account_id: &str, vswitch_id: &str) -> Result<VSwitchDeletion> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT vswitch_id FROM vswitches WHERE account_id = ? AND vswitch_id = ?")
                .bind(account_id)
                .bind(vswitch_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("reading a vSwitch"))?;
        if exists.is_none() {
            return Ok(VSwitchDeletion::NotFound);
        }
        let used = crate::interfaces::interfaces_in_vswitch(&mut tx, vswitch_id).await?;
        if used > 0 {
            return Ok(VSwitchDeletion::InUse(used));
        }
        sqlx::query("DELETE FROM vswitches WHERE account_id = ? AND vswitch_id = ?")
            .bind(account_id)
            .bind(vswitch_id)
            .execute(&mut *tx)
            .await
            .map_err(db("deleting a vSwitch"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(VSwitchDeletion::Deleted)
    }

    /// One page of an account's vSwitches in list order.
    pub async fn vswitches_page(
        &self,
        account_id: &str,
        query: &VSwitchQuery,
        window: &PageWindow,
    ) -> Result<ListedPage<VSwitchRecord>> {
        let mut tx = self.reader().begin().await.map_err(db("begin a read"))?;
        let table = ListedTable {
            table: "vswitches",
            columns: "*".into(),
            id_column: "vswitch_id",
            counting: "counting vSwitches",
            listing: "listing vSwitches",
        };
        let (total, rows, more) =
            read_page(&mut tx, &table, || vswitch_clause(account_id, query), window).await?;
        tx.commit().await.map_err(db("ending a read"))?;
        let items = rows.iter().map(VSwitchRecord::from_row).collect::<Result<Vec<_>>>()?;
        Ok(ListedPage { items, total, more })
    }

    // ---- security groups ---------------------------------------------------------------------
}

/// One vSwitch row, inside the caller's transaction.
async fn insert_vswitch_row(tx: &mut sqlx::SqliteConnection, vswitch: &VSwitchRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO vswitches (vswitch_id, account_id, vpc_id, zone_id, name, description, cidr_block,
            status, is_default, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&vswitch.vswitch_id)
    .bind(&vswitch.account_id)
    .bind(&vswitch.vpc_id)
    .bind(&vswitch.zone_id)
    .bind(&vswitch.name)
    .bind(&vswitch.description)
    .bind(&vswitch.cidr_block)
    .bind(vswitch.status)
    .bind(vswitch.is_default)
    .bind(&vswitch.created_at)
    .execute(&mut *tx)
    .await
    .map_err(db("inserting a vSwitch"))?;
    Ok(())
}
