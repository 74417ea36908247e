//! Security groups and their rules: rules naming groups that exist, a group deleted only when no
//! rule names it and no instance is in it, identical rules not added twice.
use super::*;

impl Store {
    pub async fn security_group(
        &self,
        account_id: &str,
        group_id: &str,
    ) -> Result<Option<SecurityGroupRecord>> {
        let row = sqlx::query("SELECT * FROM security_groups WHERE account_id = ? AND security_group_id = ?")
            .bind(account_id)
            .bind(group_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a security group"))?;
        row.as_ref().map(SecurityGroupRecord::from_row).transpose()
    }

    /// Insert a security group into its VPC; false (nothing written) when the VPC is not the
    /// account's.
    pub async fn insert_security_group(&self, group: &SecurityGroupRecord) -> Result<bool> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if vpc_in(&mut tx, &group.account_id, &group.vpc_id).await?.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO security_groups (security_group_id, account_id, vpc_id, name, description, group_type,
                created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&group.security_group_id)
        .bind(&group.account_id)
        .bind(&group.vpc_id)
        .bind(&group.name)
        .bind(&group.description)
        .bind(group.group_type)
        .bind(&group.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db("inserting a security group"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(true)
    }

    /// Delete a security group and its rules, unless another group's rule names it.
    pub async fn delete_security_group(
        &self,
        account_id: &str,
        group_id: &str,
    ) -> Result<SecurityGroupDeletion> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if !group_exists(&mut tx, account_id, group_id).await? {
            return Ok(SecurityGroupDeletion::NotFound);
        }
        let referrer: Option<String> = sqlx::query_scalar(
            "SELECT security_group_id FROM security_group_rules WHERE peer_group_id = ? AND security_group_id <> ?
             ORDER BY security_group_id LIMIT 1",
        )
        .bind(group_id)
        .bind(group_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("reading rules naming a security group"))?;
        if let Some(referrer) = referrer {
            return Ok(SecurityGroupDeletion::ReferencedBy(referrer));
        }
        let members = crate::interfaces::interfaces_in_group(&mut tx, group_id).await?;
        if members > 0 {
            return Ok(SecurityGroupDeletion::InUse(members));
        }
        sqlx::query("DELETE FROM security_group_rules WHERE security_group_id = ?")
            .bind(group_id)
            .execute(&mut *tx)
            .await
            .map_err(db("deleting a security group's rules"))?;
        sqlx::query("DELETE FROM security_groups WHERE account_id = ? AND security_group_id = ?")
            .bind(account_id)
            .bind(group_id)
            .execute(&mut *tx)
            .await
            .map_err(db("deleting a security group"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(SecurityGroupDeletion::Deleted)
    }

    /// A group's rules in the order they were added (the caller has checked the group is the account's).
    pub async fn security_group_rules(&self, group_id: &str) -> Result<Vec<SecurityGroupRuleRecord>> {
        let mut conn = self.reader().acquire().await.map_err(db("reading security group rules"))?;
        rules_of(&mut conn, group_id).await
    }

    /// Add rules to a group: a rule identical to one it holds (`same_rule`) is not added again;
    /// every peer group must be the account's; the group may hold at most `limit` rules.
    pub async fn add_security_group_rules(
        &self,
        account_id: &str,
        group_id: &str,
        rules: &[SecurityGroupRuleRecord],
        limit: usize,
    ) -> Result<RulesAdded> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if !group_exists(&mut tx, account_id, group_id).await? {
            return Ok(RulesAdded::GroupNotFound);
        }
        for rule in rules.iter().filter(|r| !r.peer_group_id.is_empty()) {
            if !group_exists(&mut tx, account_id, &rule.peer_group_id).await? {
                return Ok(RulesAdded::PeerNotFound(rule.peer_group_id.clone()));
            }
        }
        let mut held = rules_of(&mut tx, group_id).await?;
        let mut added = 0;
        for rule in rules {
            if held.iter().any(|h| h.same_rule(rule)) {
                continue;
            }
            if held.len() >= limit {
                return Ok(RulesAdded::TooMany { limit });
            }
            sqlx::query(
                "INSERT INTO security_group_rules (rule_id, security_group_id, direction, ip_protocol, port_range,
                    peer_cidr, peer_group_id, policy, priority, description, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&rule.rule_id)
            .bind(group_id)
            .bind(rule.direction)
            .bind(rule.ip_protocol)
            .bind(&rule.port_range)
            .bind(&rule.peer_cidr)
            .bind(&rule.peer_group_id)
            .bind(rule.policy)
            .bind(rule.priority)
            .bind(&rule.description)
            .bind(&rule.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db("inserting a security group rule"))?;
            held.push(rule.clone());
            added += 1;
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(RulesAdded::Added(added))
    }

    /// Remove the group's rules that are the same rule (`same_rule`) as one of `rules`; a rule
    /// that matches nothing removes nothing. None when the group is not the account's.
    pub async fn remove_security_group_rules(
        &self,
        account_id: &str,
        group_id: &str,
        rules: &[SecurityGroupRuleRecord],
    ) -> Result<Option<usize>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if !group_exists(&mut tx, account_id, group_id).await? {
            return Ok(None);
        }
        let held = rules_of(&mut tx, group_id).await?;
        let mut removed = 0;
        for rule in held.iter().filter(|h| rules.iter().any(|r| r.same_rule(h))) {
            sqlx::query("DELETE FROM security_group_rules WHERE rule_id = ?")
                .bind(&rule.rule_id)
                .execute(&mut *tx)
                .await
                .map_err(db("deleting a security group rule"))?;
            removed += 1;
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(Some(removed))
    }

    /// Remove rules by id, all or none: every id must be one of the group's rules of `direction`.
    pub async fn remove_security_group_rules_by_id(
        &self,
        account_id: &str,
        group_id: &str,
        direction: RuleDirection,
        rule_ids: &[String],
    ) -> Result<RulesRemoved> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if !group_exists(&mut tx, account_id, group_id).await? {
            return Ok(RulesRemoved::GroupNotFound);
        }
        let held = rules_of(&mut tx, group_id).await?;
        for id in rule_ids {
            if !held.iter().any(|h| h.rule_id == *id && h.direction == direction) {
                return Ok(RulesRemoved::UnknownRule(id.clone()));
            }
        }
        for id in rule_ids {
            sqlx::query("DELETE FROM security_group_rules WHERE rule_id = ? AND security_group_id = ?")
                .bind(id)
                .bind(group_id)
                .execute(&mut *tx)
                .await
                .map_err(db("deleting a security group rule"))?;
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(RulesRemoved::Removed(rule_ids.len()))
    }

    /// One page of an account's security groups in list order, with their rule counts.
    pub async fn security_groups_page(
        &self,
        account_id: &str,
        query: &SecurityGroupQuery,
        window: &PageWindow,
    ) -> Result<ListedPage<ListedSecurityGroup>> {
        let mut tx = self.reader().begin().await.map_err(db("begin a read"))?;
        let table = ListedTable {
            table: "security_groups",
            columns: "*".into(),
            id_column: "security_group_id",
            counting: "counting security groups",
            listing: "listing security groups",
        };
        let (total, rows, more) =
            read_page(&mut tx, &table, || security_group_clause(account_id, query), window).await?;
        let groups = rows.iter().map(SecurityGroupRecord::from_row).collect::<Result<Vec<_>>>()?;
        let mut counts: Vec<(String, i64, i64)> = Vec::new();
        if !groups.is_empty() {
            let ids: Vec<String> = groups.iter().map(|g| g.security_group_id.clone()).collect();
            let (marks, args) = id_args(&ids);
            let rows = sqlx::query_with(
                &format!(
                    "SELECT security_group_id, COUNT(*) AS rules, SUM(peer_group_id <> '') AS group_rules
                     FROM security_group_rules WHERE security_group_id IN ({marks}) GROUP BY security_group_id"
                ),
                args,
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(db("counting the rules of a page"))?;
            counts = rows
                .iter()
                .map(|r| {
                    (
                        r.get("security_group_id"),
                        r.get("rules"),
                        r.get::<Option<i64>, _>("group_rules").unwrap_or(0),
                    )
                })
                .collect();
        }
        tx.commit().await.map_err(db("ending a read"))?;
        let items = groups
            .into_iter()
            .map(|group| {
                let (rule_count, group_rule_count) = counts
                    .iter()
                    .find(|(id, _, _)| *id == group.security_group_id)
                    .map(|(_, n, g)| (*n, *g))
                    .unwrap_or((0, 0));
                ListedSecurityGroup { group, rule_count, group_rule_count }
            })
            .collect();
        Ok(ListedPage { items, total, more })
    }
}
