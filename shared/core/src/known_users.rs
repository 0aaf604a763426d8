//! Learn Amp's users, fetched once for a run (a first import, a reconcile), so that users who
//! exist already are adopted without asking Learn Amp about each employee.
//!
//! Only what linking and adopting read is kept of each user (its id, email, external id and
//! whether it is deactivated), not its names or fields: a run at 50,000 users holds every one
//! for its whole length, and a whole `User` is several times the size.

use crate::error::TargetError;
use crate::learnamp::User;
use crate::ports::{LearnAmp, MalformedRecord, UserDetail, UserListing};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

#[derive(Debug)]
struct KnownUser {
    id: u64,
    email: Option<Box<str>>,
    external_id: Option<Box<str>>,
    deactivated: bool,
}

impl KnownUser {
    /// The user as a listing would have handed it over, with only what is kept.
    fn to_user(&self) -> User {
        User {
            id: self.id,
            email: self.email.as_deref().map(str::to_string),
            integration_external_id: self.external_id.as_deref().map(str::to_string),
            listed_deactivated: Some(self.deactivated),
            ..User::default()
        }
    }
}

/// The users of a listing, indexed by external id and by email.
#[derive(Debug, Default)]
pub struct KnownUsers {
    users: Vec<KnownUser>,
    /// Positions in `users` of those with an external id, sorted by it; of two users with one
    /// external id the later in the listing comes last, and is the one found.
    by_external_id: Vec<u32>,
    /// A hash of each lowercased email, with the user's position, sorted. Two emails that
    /// share a hash are told apart by the email itself when looked up.
    by_email: Vec<(u64, u32)>,
    /// Users the listing could not read: they exist, though they are not held here.
    unreadable: HashSet<u64>,
}

/// Users added page by page, indexed once at the end.
#[derive(Debug, Default)]
pub struct KnownUsersBuilder {
    known: KnownUsers,
}

impl KnownUsersBuilder {
    /// A page's users, and the ids of those it could not read.
    pub fn add_page(&mut self, page: UserListing) {
        self.known.unreadable.extend(
            page.skipped
                .iter()
                .filter_map(|m| m.id.as_deref()?.parse::<u64>().ok()),
        );
        for user in page.users {
            self.add(user);
        }
    }

    pub fn add(&mut self, user: User) {
        let deactivated = user.is_deactivated();
        self.known.users.push(KnownUser {
            id: user.id,
            email: user.email.map(String::into_boxed_str),
            external_id: user
                .integration_external_id
                .filter(|x| !x.is_empty())
                .map(String::into_boxed_str),
            deactivated,
        });
    }

    pub fn build(self) -> KnownUsers {
        let mut known = self.known;
        let users = &known.users;
        let mut by_external_id: Vec<u32> = (0..users.len() as u32)
            .filter(|&i| users[i as usize].external_id.is_some())
            .collect();
        // Stable: equal external ids keep the listing's order.
        by_external_id.sort_by(|&a, &b| {
            users[a as usize]
                .external_id
                .cmp(&users[b as usize].external_id)
        });
        let mut by_email: Vec<(u64, u32)> = (0..users.len() as u32)
            .filter_map(|i| Some((email_key(users[i as usize].email.as_deref()?), i)))
            .collect();
        by_email.sort_unstable();
        known.by_external_id = by_external_id;
        known.by_email = by_email;
        known
    }
}

fn email_key(email: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    email.to_lowercase().hash(&mut hasher);
    hasher.finish()
}

impl KnownUsers {
    /// Every user of Learn Amp, as its pages arrive, and those that could not be read.
    pub async fn list(
        learnamp: &dyn LearnAmp,
    ) -> Result<(Self, Vec<MalformedRecord>), TargetError> {
        let mut builder = KnownUsersBuilder::default();
        let mut skipped = Vec::new();
        learnamp
            .each_user_page(UserDetail::Basic, &mut |page| {
                skipped.extend(page.skipped.iter().cloned());
                builder.add_page(page);
            })
            .await?;
        Ok((builder.build(), skipped))
    }

    /// A listing's users, with the ids of those it could not read.
    pub fn from_listing(listing: UserListing) -> Self {
        let mut builder = KnownUsersBuilder::default();
        builder.add_page(listing);
        builder.build()
    }

    pub fn new(users: Vec<User>) -> Self {
        Self::from_listing(UserListing {
            users,
            skipped: Vec::new(),
        })
    }

    /// Whether the listing held this user but could not read it.
    pub fn is_unreadable(&self, user_id: u64) -> bool {
        self.unreadable.contains(&user_id)
    }

    pub fn by_external_id(&self, id: &str) -> Option<User> {
        let key = |&i: &u32| self.users[i as usize].external_id.as_deref();
        // The last of the users with this external id.
        let end = self.by_external_id.partition_point(|i| key(i) <= Some(id));
        let &i = self.by_external_id[..end].last()?;
        (key(&i) == Some(id)).then(|| self.users[i as usize].to_user())
    }

    /// The users with this email (compared lowercased), in the listing's order.
    pub fn by_email(&self, email: &str) -> Vec<User> {
        let key = email_key(email);
        let lowered = email.to_lowercase();
        let start = self.by_email.partition_point(|&(k, _)| k < key);
        self.by_email[start..]
            .iter()
            .take_while(|&&(k, _)| k == key)
            .map(|&(_, i)| &self.users[i as usize])
            .filter(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|e| e.to_lowercase() == lowered)
            })
            .map(KnownUser::to_user)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u64, email: &str, external_id: Option<&str>) -> User {
        User {
            id,
            email: Some(email.into()),
            integration_external_id: external_id.map(str::to_string),
            ..User::default()
        }
    }

    #[test]
    fn users_are_found_by_external_id_the_later_first_and_by_email_in_any_case() {
        let known = KnownUsers::new(vec![
            user(1, "a@example.com", Some("E1")),
            user(2, "B@Example.com", None),
            user(3, "b@example.com", Some("E3")),
            user(4, "c@example.com", Some("E1")),
            user(5, "d@example.com", Some("")),
        ]);
        assert_eq!(known.by_external_id("E1").map(|u| u.id), Some(4));
        assert_eq!(known.by_external_id("E3").map(|u| u.id), Some(3));
        assert_eq!(known.by_external_id("E2"), None);
        assert_eq!(known.by_external_id(""), None);
        let ids: Vec<u64> = known
            .by_email("b@EXAMPLE.com")
            .iter()
            .map(|u| u.id)
            .collect();
        assert_eq!(ids, [2, 3]);
        assert!(known.by_email("z@example.com").is_empty());
        let found = known.by_email("a@example.com");
        assert_eq!(found[0].integration_external_id.as_deref(), Some("E1"));
        assert_eq!(found[0].listed_deactivated, Some(false));
    }
}
