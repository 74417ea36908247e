//! Instances on the network: each instance's primary network interface (a vSwitch, a private
//! address, a MAC, an optional public address) and the security groups it is in.
//!
//! Addresses are picked inside the write transaction that inserts the interface (with its
//! instance), from the addresses already taken, by a `pick` the domain hands in (it knows the
//! CIDR arithmetic and the reserved addresses; the store knows what is taken). Two racing
//! RunInstances therefore never get the same address, and a unique index backs it up.

use crate::listing::{read_page, Clause, ListedTable};
use crate::networks::id_args;
use crate::{db, ListedPage, PageWindow, Result, Store, StoreError};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, SqliteConnection};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInterfaceRecord {
    pub network_interface_id: String,
    pub account_id: String,
    pub instance_id: String,
    pub vpc_id: String,
    pub vswitch_id: String,
    pub zone_id: String,
    pub private_ip: String,
    pub mac: String,
    /// Empty when the instance has no public address.
    pub public_ip: String,
    /// InternetMaxBandwidthOut as asked (Mbit/s).
    pub internet_max_bandwidth_out: i64,
    /// The groups it is in, in the order they were joined.
    pub security_group_ids: Vec<String>,
    pub created_at: String,
}

impl NetworkInterfaceRecord {
    fn from_row(r: &SqliteRow, security_group_ids: Vec<String>) -> NetworkInterfaceRecord {
        NetworkInterfaceRecord {
            network_interface_id: r.get("network_interface_id"),
            account_id: r.get("account_id"),
            instance_id: r.get("instance_id"),
            vpc_id: r.get("vpc_id"),
            vswitch_id: r.get("vswitch_id"),
            zone_id: r.get("zone_id"),
            private_ip: r.get("private_ip"),
            mac: r.get("mac"),
            public_ip: r.get("public_ip"),
            internet_max_bandwidth_out: r.get("internet_max_bandwidth_out"),
            created_at: r.get("created_at"),
            security_group_ids,
        }
    }
}

/// Picks a free address given the ones taken (`None`: none is left).
pub type PickAddress<'a> = &'a (dyn Fn(&[String]) -> Option<String> + Send + Sync);

/// An interface to insert with its instance. An empty `private_ip` is picked with
/// `pick_private`; a public address is picked with `pick_public` when it is given.
pub struct NewInterface<'a> {
    pub record: NetworkInterfaceRecord,
    pub pick_private: PickAddress<'a>,
    pub pick_public: Option<PickAddress<'a>>,
}

/// Why an interface could not be inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressRefusal {
    /// The requested private address is taken in its vSwitch.
    PrivateIpTaken,
    /// No private address is left in the vSwitch.
    NoPrivateIp,
    /// No public address is left in the pool.
    NoPublicIp,
}

/// Filters of DescribeNetworkInterfaces (all optional; every one given must match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceQuery {
    pub network_interface_ids: Option<Vec<String>>,
    pub instance_id: Option<String>,
    pub vpc_id: Option<String>,
    pub vswitch_id: Option<String>,
    pub security_group_id: Option<String>,
    pub private_ip: Option<String>,
}

/// Insert `new` for its instance inside `tx`, picking its addresses. Returns the record as
/// stored, or why the addresses could not be had (nothing written then).
pub(crate) async fn insert_interface(
    tx: &mut SqliteConnection,
    new: &NewInterface<'_>,
) -> Result<std::result::Result<NetworkInterfaceRecord, AddressRefusal>> {
    let mut record = new.record.clone();
    let taken: Vec<String> =
        sqlx::query_scalar("SELECT private_ip FROM network_interfaces WHERE vswitch_id = ?")
            .bind(&record.vswitch_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db("reading a vSwitch's addresses"))?;
    if record.private_ip.is_empty() {
        match (new.pick_private)(&taken) {
            Some(ip) => record.private_ip = ip,
            None => return Ok(Err(AddressRefusal::NoPrivateIp)),
        }
    } else if taken.contains(&record.private_ip) {
        return Ok(Err(AddressRefusal::PrivateIpTaken));
    }
    if let Some(pick_public) = new.pick_public {
        let taken = public_ips(tx).await?;
        match pick_public(&taken) {
            Some(ip) => record.public_ip = ip,
            None => return Ok(Err(AddressRefusal::NoPublicIp)),
        }
    }
    sqlx::query(
        "INSERT INTO network_interfaces (network_interface_id, account_id, instance_id, vpc_id, vswitch_id, zone_id,
            private_ip, mac, public_ip, internet_max_bandwidth_out, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&record.network_interface_id)
    .bind(&record.account_id)
    .bind(&record.instance_id)
    .bind(&record.vpc_id)
    .bind(&record.vswitch_id)
    .bind(&record.zone_id)
    .bind(&record.private_ip)
    .bind(&record.mac)
    .bind(&record.public_ip)
    .bind(record.internet_max_bandwidth_out)
    .bind(&record.created_at)
    .execute(&mut *tx)
    .await
    .map_err(db("inserting a network interface"))?;
    for group_id in &record.security_group_ids {
        sqlx::query(
            "INSERT INTO interface_security_groups (network_interface_id, security_group_id) VALUES (?, ?)",
        )
        .bind(&record.network_interface_id)
        .bind(group_id)
        .execute(&mut *tx)
        .await
        .map_err(db("joining a security group"))?;
    }
    Ok(Ok(record))
}

/// Remove an instance's interfaces and their group memberships inside `tx`.
pub(crate) async fn delete_interfaces_of(tx: &mut SqliteConnection, instance_id: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM interface_security_groups WHERE network_interface_id IN
            (SELECT network_interface_id FROM network_interfaces WHERE instance_id = ?)",
    )
    .bind(instance_id)
    .execute(&mut *tx)
    .await
    .map_err(db("leaving security groups"))?;
    sqlx::query("DELETE FROM network_interfaces WHERE instance_id = ?")
        .bind(instance_id)
        .execute(&mut *tx)
        .await
        .map_err(db("deleting network interfaces"))?;
    Ok(())
}

/// How many interfaces a vSwitch holds, inside `tx`.
pub(crate) async fn interfaces_in_vswitch(tx: &mut SqliteConnection, vswitch_id: &str) -> Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM network_interfaces WHERE vswitch_id = ?")
        .bind(vswitch_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("counting a vSwitch's interfaces"))
}

/// How many interfaces are in a security group, inside `tx`.
pub(crate) async fn interfaces_in_group(tx: &mut SqliteConnection, group_id: &str) -> Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM interface_security_groups WHERE security_group_id = ?")
        .bind(group_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("counting a security group's interfaces"))
}

/// The groups an interface is in, inside `tx`.
async fn groups_of(tx: &mut SqliteConnection, network_interface_id: &str) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT security_group_id FROM interface_security_groups WHERE network_interface_id = ?",
    )
    .bind(network_interface_id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db("reading an interface's groups"))
}

async fn public_ips(tx: &mut SqliteConnection) -> Result<Vec<String>> {
    sqlx::query_scalar("SELECT public_ip FROM network_interfaces WHERE public_ip <> ''")
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading public addresses"))
}

/// The groups of each interface in `rows`, in join order.
async fn with_groups(conn: &mut SqliteConnection, rows: &[SqliteRow]) -> Result<Vec<NetworkInterfaceRecord>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.get("network_interface_id")).collect();
    let (placeholders, args) = id_args(&ids);
    let sql = format!(
        "SELECT network_interface_id, security_group_id FROM interface_security_groups
         WHERE network_interface_id IN ({placeholders}) ORDER BY rowid"
    );
    let memberships = sqlx::query_with(&sql, args)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("reading security group memberships"))?;
    Ok(rows
        .iter()
        .map(|row| {
            let id: String = row.get("network_interface_id");
            let groups = memberships
                .iter()
                .filter(|m| m.get::<String, _>("network_interface_id") == id)
                .map(|m| m.get("security_group_id"))
                .collect();
            NetworkInterfaceRecord::from_row(row, groups)
        })
        .collect())
}

fn interface_clause(account_id: &str, q: &InterfaceQuery) -> Clause {
    let mut clause = Clause::new(account_id);
    if let Some(ids) = &q.network_interface_ids {
        clause.and_in("network_interface_id", ids);
    }
    for (column, value) in [
        ("instance_id", &q.instance_id),
        ("vpc_id", &q.vpc_id),
        ("vswitch_id", &q.vswitch_id),
        ("private_ip", &q.private_ip),
    ] {
        if let Some(value) = value {
            clause.and(&format!("{column} = ?"), [value.clone()]);
        }
    }
    if let Some(group) = &q.security_group_id {
        clause.and(
            "network_interface_id IN (SELECT network_interface_id FROM interface_security_groups WHERE security_group_id = ?)",
            [group.clone()],
        );
    }
    clause
}

impl Store {
    /// The interfaces of these instances (one query for a page of instances).
    pub async fn interfaces_of_instances(
        &self,
        instance_ids: &[String],
    ) -> Result<Vec<NetworkInterfaceRecord>> {
        if instance_ids.is_empty() {
            return Ok(Vec::new());
        }
        let (placeholders, args) = id_args(instance_ids);
        self.interfaces_where(&format!("instance_id IN ({placeholders})"), args).await
    }

    /// The interfaces in a VPC (the data path builds the VPC's network from them).
    pub async fn interfaces_in_vpc(&self, vpc_id: &str) -> Result<Vec<NetworkInterfaceRecord>> {
        let (placeholders, args) = id_args(&[vpc_id.to_string()]);
        self.interfaces_where(&format!("vpc_id IN ({placeholders})"), args).await
    }

    /// Every interface of every account (the data path rebuilds the network from them at start).
    pub async fn all_interfaces(&self) -> Result<Vec<NetworkInterfaceRecord>> {
        self.interfaces_where("1", SqliteArguments::default()).await
    }

    /// The interfaces matching `condition`, in list order, with their groups.
    async fn interfaces_where(
        &self,
        condition: &str,
        args: SqliteArguments<'static>,
    ) -> Result<Vec<NetworkInterfaceRecord>> {
        let mut conn = self.reader().acquire().await.map_err(db("reading network interfaces"))?;
        let sql = format!(
            "SELECT * FROM network_interfaces WHERE {condition} ORDER BY created_at, network_interface_id"
        );
        let rows = sqlx::query_with(&sql, args)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("reading network interfaces"))?;
        with_groups(&mut conn, &rows).await
    }

    /// One page of an account's interfaces in list order (DescribeNetworkInterfaces).
    pub async fn interfaces_page(
        &self,
        account_id: &str,
        query: &InterfaceQuery,
        window: &PageWindow,
    ) -> Result<ListedPage<NetworkInterfaceRecord>> {
        let mut tx = self.reader().begin().await.map_err(db("begin a read"))?;
        let table = ListedTable {
            table: "network_interfaces",
            columns: "*".into(),
            id_column: "network_interface_id",
            counting: "counting network interfaces",
            listing: "listing network interfaces",
        };
        let (total, rows, more) =
            read_page(&mut tx, &table, || interface_clause(account_id, query), window).await?;
        let items = with_groups(&mut tx, &rows).await?;
        Ok(ListedPage { items, total, more })
    }

    /// Put an instance's interface into a group (the caller checked the group's VPC). `Ok(false)`
    /// when it is in it already; `Err(limit)` when it is in `limit` groups.
    pub async fn join_security_group(
        &self,
        network_interface_id: &str,
        group_id: &str,
        limit: i64,
    ) -> Result<std::result::Result<bool, i64>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let groups = groups_of(&mut tx, network_interface_id).await?;
        if groups.iter().any(|g| g == group_id) {
            return Ok(Ok(false));
        }
        if groups.len() as i64 >= limit {
            return Ok(Err(limit));
        }
        sqlx::query(
            "INSERT INTO interface_security_groups (network_interface_id, security_group_id) VALUES (?, ?)",
        )
        .bind(network_interface_id)
        .bind(group_id)
        .execute(&mut *tx)
        .await
        .map_err(db("joining a security group"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(true))
    }

    /// Take an interface out of a group. `Ok(false)` when it was not in it; `Err(())` when it is
    /// its last group (an interface is always in at least one).
    pub async fn leave_security_group(
        &self,
        network_interface_id: &str,
        group_id: &str,
    ) -> Result<std::result::Result<bool, ()>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let groups = groups_of(&mut tx, network_interface_id).await?;
        if !groups.iter().any(|g| g == group_id) {
            return Ok(Ok(false));
        }
        if groups.len() == 1 {
            return Ok(Err(()));
        }
        sqlx::query(
            "DELETE FROM interface_security_groups WHERE network_interface_id = ? AND security_group_id = ?",
        )
        .bind(network_interface_id)
        .bind(group_id)
        .execute(&mut *tx)
        .await
        .map_err(db("leaving a security group"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(true))
    }

    /// The VPC's default security group (the one instances join when RunInstances names none),
    /// inserted from `candidate` the first time.
    pub async fn ensure_default_security_group(
        &self,
        candidate: &crate::SecurityGroupRecord,
    ) -> Result<String> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT security_group_id FROM security_groups WHERE vpc_id = ? AND is_default = 1",
        )
        .bind(&candidate.vpc_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("reading a default security group"))?;
        if let Some(id) = existing {
            return Ok(id);
        }
        sqlx::query(
            "INSERT INTO security_groups (security_group_id, account_id, vpc_id, name, description, group_type,
                created_at, is_default)
             VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
        )
        .bind(&candidate.security_group_id)
        .bind(&candidate.account_id)
        .bind(&candidate.vpc_id)
        .bind(&candidate.name)
        .bind(&candidate.description)
        .bind(candidate.group_type)
        .bind(&candidate.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db("inserting a default security group"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(candidate.security_group_id.clone())
    }

    /// Give an interface a public address picked from the free ones (AllocatePublicIpAddress).
    /// Returns the address it has (the one it had already, if any), or `None` when none is left.
    pub async fn allocate_public_ip(
        &self,
        network_interface_id: &str,
        pick: PickAddress<'_>,
    ) -> Result<Option<String>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT public_ip FROM network_interfaces WHERE network_interface_id = ?")
                .bind(network_interface_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("reading an interface"))?;
        let Some(current) = current else {
            return Err(StoreError::Db {
                context: "allocating a public address",
                source: sqlx::Error::RowNotFound,
            });
        };
        if !current.is_empty() {
            return Ok(Some(current));
        }
        let taken = public_ips(&mut tx).await?;
        let Some(ip) = pick(&taken) else { return Ok(None) };
        sqlx::query("UPDATE network_interfaces SET public_ip = ? WHERE network_interface_id = ?")
            .bind(&ip)
            .bind(network_interface_id)
            .execute(&mut *tx)
            .await
            .map_err(db("setting a public address"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Some(ip))
    }
}
