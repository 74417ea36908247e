//! VPCs' rows: one default per account, deleted only when empty, paged in SQL.
use super::*;

impl Store {
    // ---- VPCs --------------------------------------------------------------------------------

    pub async fn vpc(&self, account_id: &str, vpc_id: &str) -> Result<Option<VpcRecord>> {
        let mut conn = self.reader().acquire().await.map_err(db("reading a VPC"))?;
        vpc_in(&mut conn, account_id, vpc_id).await
    }

    pub async fn insert_vpc(&self, vpc: &VpcRecord) -> Result<()> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        insert_vpc_row(&mut tx, vpc).await?;
        tx.commit().await.map_err(db("commit"))
    }

    /// The account's default VPC, inserting `candidate` (marked default) when it has none.
    pub async fn ensure_default_vpc(&self, candidate: &VpcRecord) -> Result<VpcRecord> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let row = sqlx::query("SELECT * FROM vpcs WHERE account_id = ? AND is_default = 1")
            .bind(&candidate.account_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("reading the default VPC"))?;
        if let Some(row) = row {
            return VpcRecord::from_row(&row);
        }
        insert_vpc_row(&mut tx, candidate).await?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(candidate.clone())
    }

    /// Change a VPC's name, description and CIDR block (each when given). `check` judges the
    /// change against the VPC (None: not found) and its vSwitches inside the transaction; the
    /// change is written only when it answers Ok.
    pub async fn update_vpc<E>(
        &self,
        account_id: &str,
        vpc_id: &str,
        change: &VpcChange,
        check: impl FnOnce(Option<&VpcRecord>, &[VSwitchRecord]) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<(), E>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let vpc = vpc_in(&mut tx, account_id, vpc_id).await?;
        let siblings = match &vpc {
            Some(v) => vswitches_of(&mut tx, &v.vpc_id).await?,
            None => Vec::new(),
        };
        if let Err(e) = check(vpc.as_ref(), &siblings) {
            return Ok(Err(e));
        }
        sqlx::query(
            "UPDATE vpcs SET name = COALESCE(?, name), description = COALESCE(?, description),
                cidr_block = COALESCE(?, cidr_block) WHERE account_id = ? AND vpc_id = ?",
        )
        .bind(&change.name)
        .bind(&change.description)
        .bind(&change.cidr_block)
        .bind(account_id)
        .bind(vpc_id)
        .execute(&mut *tx)
        .await
        .map_err(db("updating a VPC"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(()))
    }

    /// Delete an empty VPC (no vSwitch, no security group).
    pub async fn delete_vpc(&self, account_id: &str, vpc_id: &str) -> Result<VpcDeletion> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if vpc_in(&mut tx, account_id, vpc_id).await?.is_none() {
            return Ok(VpcDeletion::NotFound);
        }
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).bind(vpc_id.to_string());
        let vswitches = count("SELECT COUNT(*) FROM vswitches WHERE vpc_id = ?")
            .fetch_one(&mut *tx)
            .await
            .map_err(db("counting a VPC's vSwitches"))?;
        if vswitches > 0 {
            return Ok(VpcDeletion::HasVSwitches(vswitches));
        }
        let groups = count("SELECT COUNT(*) FROM security_groups WHERE vpc_id = ?")
            .fetch_one(&mut *tx)
            .await
            .map_err(db("counting a VPC's security groups"))?;
        if groups > 0 {
            return Ok(VpcDeletion::HasSecurityGroups(groups));
        }
        sqlx::query("DELETE FROM vpcs WHERE account_id = ? AND vpc_id = ?")
            .bind(account_id)
            .bind(vpc_id)
            .execute(&mut *tx)
            .await
            .map_err(db("deleting a VPC"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(VpcDeletion::Deleted)
    }

    /// One page of an account's VPCs in list order, each with its vSwitch ids.
    pub async fn vpcs_page(
        &self,
        account_id: &str,
        query: &VpcQuery,
        window: &PageWindow,
    ) -> Result<ListedPage<ListedVpc>> {
        let mut tx = self.reader().begin().await.map_err(db("begin a read"))?;
        let table = ListedTable {
            table: "vpcs",
            columns: "*".into(),
            id_column: "vpc_id",
            counting: "counting VPCs",
            listing: "listing VPCs",
        };
        let (total, rows, more) =
            read_page(&mut tx, &table, || vpc_clause(account_id, query), window).await?;
        let vpcs = rows.iter().map(VpcRecord::from_row).collect::<Result<Vec<_>>>()?;
        let mut vswitches: Vec<(String, String)> = Vec::new();
        if !vpcs.is_empty() {
            let ids: Vec<String> = vpcs.iter().map(|v| v.vpc_id.clone()).collect();
            let (marks, args) = id_args(&ids);
            let rows = sqlx::query_with(
                &format!(
                    "SELECT vpc_id, vswitch_id FROM vswitches WHERE vpc_id IN ({marks})
                     ORDER BY vpc_id, created_at, vswitch_id"
                ),
                args,
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(db("listing the vSwitches of a page"))?;
            vswitches = rows.iter().map(|r| (r.get("vpc_id"), r.get("vswitch_id"))).collect();
        }
        tx.commit().await.map_err(db("ending a read"))?;
        let items = vpcs
            .into_iter()
            .map(|vpc| {
                let vswitch_ids =
                    vswitches.iter().filter(|(v, _)| *v == vpc.vpc_id).map(|(_, s)| s.clone()).collect();
                ListedVpc { vpc, vswitch_ids }
            })
            .collect();
        Ok(ListedPage { items, total, more })
    }

    // ---- vSwitches ---------------------------------------------------------------------------
}
