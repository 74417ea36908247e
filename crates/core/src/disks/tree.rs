//! A disk's snapshot tree, for the web console: each visible snapshot of the disk with its parent (the snapshot
//! its file's backing chain names, as CreateSnapshot sealed it and DeleteSnapshot re-pointed it), and the snapshot
//! the disk's current state grew from. DescribeSnapshots has no parent field on ECS, so the links are given only
//! by the console's private product. A parent that was deleted but whose file is still merging into its children
//! (a hidden row) is skipped: the link goes to the nearest visible ancestor.

use super::Disks;
use crate::{lookup, Result};
use ecslab_store::SnapshotRecord;
use std::collections::HashMap;

/// One snapshot in a disk's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNode {
    pub snapshot_id: String,
    /// Empty for a root (a snapshot of the disk's first state).
    pub parent_snapshot_id: String,
}

/// A disk's snapshots as a tree: every parent before its children, otherwise in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTree {
    pub disk_id: String,
    /// The snapshot the disk's current contents descend from (empty: none).
    pub current_parent_snapshot_id: String,
    pub nodes: Vec<TreeNode>,
}

impl Disks {
    pub async fn snapshot_tree(&self, account_id: &str, disk_id: &str) -> Result<SnapshotTree> {
        let disk = lookup::disk(&self.store, account_id, disk_id).await?;
        let visible = self.store.disk_snapshots(account_id, disk_id).await?;
        let known: HashMap<&str, &SnapshotRecord> =
            visible.iter().map(|s| (s.snapshot_id.as_str(), s)).collect();
        let mut nodes = Vec::with_capacity(visible.len());
        for s in &visible {
            let parent = self.visible_ancestor(&known, &s.parent_snapshot_id).await?;
            nodes.push(TreeNode { snapshot_id: s.snapshot_id.clone(), parent_snapshot_id: parent });
        }
        let current_parent_snapshot_id = self.visible_ancestor(&known, &disk.parent_snapshot_id).await?;
        Ok(SnapshotTree { disk_id: disk.disk_id, current_parent_snapshot_id, nodes: parents_first(nodes) })
    }

    /// `id` if visible, else the nearest visible snapshot up its chain; empty when there is none.
    async fn visible_ancestor(&self, known: &HashMap<&str, &SnapshotRecord>, id: &str) -> Result<String> {
        let mut id = id.to_string();
        // Bounded: a chain is never longer than the number of snapshot rows; 10,000 guards against a cycle.
        for _ in 0..10_000 {
            if id.is_empty() || known.contains_key(id.as_str()) {
                return Ok(id);
            }
            match self.store.snapshot_by_id(&id).await? {
                Some(hidden) => id = hidden.parent_snapshot_id,
                None => return Ok(String::new()),
            }
        }
        Ok(String::new())
    }
}

/// `nodes` (in creation order) reordered so that each comes after its parent, keeping creation order otherwise.
/// Creation times are kept to the second, so two snapshots taken within one second may be listed child first.
fn parents_first(nodes: Vec<TreeNode>) -> Vec<TreeNode> {
    let ids: std::collections::HashSet<String> = nodes.iter().map(|n| n.snapshot_id.clone()).collect();
    let mut placed = std::collections::HashSet::new();
    let mut pending = nodes;
    let mut ordered = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let before = ordered.len();
        let mut waiting = Vec::new();
        for node in pending {
            let parent = &node.parent_snapshot_id;
            if parent.is_empty() || !ids.contains(parent) || placed.contains(parent) {
                placed.insert(node.snapshot_id.clone());
                ordered.push(node);
            } else {
                waiting.push(node);
            }
        }
        if ordered.len() == before {
            // A cycle (never made by the store): keep the rest as they came.
            ordered.extend(waiting);
            break;
        }
        pending = waiting;
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, parent: &str) -> TreeNode {
        TreeNode { snapshot_id: id.into(), parent_snapshot_id: parent.into() }
    }

    #[test]
    fn parents_come_before_their_children() {
        // Taken within one second: the child's id sorts first.
        let listed = vec![node("s-a", "s-b"), node("s-b", ""), node("s-c", "s-a"), node("s-d", "")];
        let ordered = parents_first(listed);
        let ids: Vec<_> = ordered.iter().map(|n| n.snapshot_id.as_str()).collect();
        assert_eq!(ids, ["s-b", "s-d", "s-a", "s-c"]);
        let cycle = parents_first(vec![node("s-x", "s-y"), node("s-y", "s-x")]);
        assert_eq!(cycle.len(), 2);
    }
}
