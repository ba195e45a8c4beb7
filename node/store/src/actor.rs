//! The Automerge actor ↔ user mapping.
//!
//! An actor id is 32 bytes: the 16-byte id of the node that made the change, then the
//! 16-byte UUID of the signed-in user. Every change therefore names its author without a
//! lookup table, and two nodes never share an actor (which Automerge requires: one actor's
//! sequence numbers must never fork).

use automerge::ActorId;
use uuid::Uuid;

/// The random, persistent identity of one node's replica.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 16]);

impl NodeId {
    pub fn random() -> Self {
        Self(*Uuid::new_v4().as_bytes())
    }
}

impl std::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeId({})", Uuid::from_bytes(self.0))
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Uuid::from_bytes(self.0).fmt(f)
    }
}

/// The actor a user writes as on a node.
pub fn actor_for(node: NodeId, user: Uuid) -> ActorId {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(&node.0);
    bytes[16..].copy_from_slice(user.as_bytes());
    ActorId::from(&bytes[..])
}

/// The user (and node) behind an actor, or `None` for an actor that Attach did not make.
pub fn author_of(actor: &ActorId) -> Option<(NodeId, Uuid)> {
    let bytes = actor.to_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let mut node = [0u8; 16];
    node.copy_from_slice(&bytes[..16]);
    let user = Uuid::from_slice(&bytes[16..]).ok()?;
    Some((NodeId(node), user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_names_its_node_and_user() {
        let node = NodeId::random();
        let user = Uuid::now_v7();
        let actor = actor_for(node, user);
        assert_eq!(author_of(&actor), Some((node, user)));
    }

    #[test]
    fn foreign_actors_are_not_attributed() {
        assert_eq!(author_of(&ActorId::random()), None);
    }

    #[test]
    fn two_nodes_never_share_an_actor_for_one_user() {
        let user = Uuid::now_v7();
        assert_ne!(
            actor_for(NodeId::random(), user),
            actor_for(NodeId::random(), user)
        );
    }
}
