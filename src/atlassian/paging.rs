//! Cursor paging of the admin API listings (user search, group search, events stream): one
//! place that follows `meta.next` / `links.next` and knows when to stop, so every listing ends
//! the same way and makes the same requests.

use super::client::{Call, Client};
use super::error::ApiError;
use super::wire::AdminPage;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::marker::PhantomData;

/// Reads an admin listing page by page. `call_for` builds the request for a cursor (`None` for
/// the first page), so each listing keeps its own filters on every page. Pages are sent through
/// [`Client::get_json`], which owns retries and pacing. Paging stops after an empty page, a page
/// without a next cursor, or a cursor the server sent before (see [`next_cursor`]).
pub(crate) struct CursorPager<'c, T, F> {
    client: &'c Client,
    call_for: F,
    cursor: Option<String>,
    visited: HashSet<String>,
    pages_read: usize,
    done: bool,
    // `fn() -> T`: the pager yields `T`s but holds none, so `T` does not affect Send/Sync.
    item: PhantomData<fn() -> T>,
}

impl<'c, T, F> CursorPager<'c, T, F>
where
    T: DeserializeOwned,
    F: Fn(Option<&str>) -> Call,
{
    /// A pager that has read nothing yet.
    pub(crate) fn new(client: &'c Client, call_for: F) -> Self {
        Self {
            client,
            call_for,
            cursor: None,
            visited: HashSet::new(),
            pages_read: 0,
            done: false,
            item: PhantomData,
        }
    }

    /// The items of the next page, or `None` once the listing has ended (without a request).
    pub(crate) async fn next_page(&mut self) -> Result<Option<Vec<T>>, ApiError> {
        if self.done {
            return Ok(None);
        }
        let call = (self.call_for)(self.cursor.as_deref());
        let page: AdminPage<T> = self.client.get_json(&call).await?;
        self.pages_read += 1;
        match next_cursor(&mut self.visited, page.next_cursor(), page.data.is_empty()) {
            Some(c) => self.cursor = Some(c),
            None => self.done = true,
        }
        Ok(Some(page.data))
    }

    /// Whether no page has been read yet: a failure then concerns the listing as a whole (for
    /// example an endpoint that is not served), not a page in the middle of it.
    pub(crate) fn before_first_page(&self) -> bool {
        self.pages_read == 0
    }
}

/// The next cursor to follow, or `None` to stop: after an empty page, or when the server sends
/// a cursor it sent before (a loop would otherwise never end).
fn next_cursor(visited: &mut HashSet<String>, next: Option<String>, empty: bool) -> Option<String> {
    next.filter(|c| !empty && visited.insert(c.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_loops_and_empty_pages_end_the_paging() {
        let mut visited = HashSet::new();
        let next =
            |v: &mut HashSet<String>, c: &str, empty| next_cursor(v, Some(c.to_string()), empty);
        assert_eq!(next(&mut visited, "a", false).as_deref(), Some("a"));
        assert_eq!(next(&mut visited, "b", false).as_deref(), Some("b"));
        assert_eq!(
            next(&mut visited, "a", false),
            None,
            "a cycle back to a seen cursor stops"
        );
        assert_eq!(next(&mut visited, "c", true), None, "an empty page stops");
        assert_eq!(next_cursor(&mut visited, None, false), None);
    }
}
