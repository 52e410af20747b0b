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
        let broken = |message: String| ApiError::Decode {
            endpoint: call.endpoint.to_string(),
            message,
        };
        match next_cursor(&mut self.visited, page.next_cursor(), page.data.is_empty()) {
            Next::Follow(c) if self.pages_read >= MAX_PAGES => {
                return Err(broken(format!(
                    "the listing goes on past {MAX_PAGES} pages (cursor {c}), more than any \
                     Atlassian org holds; stopping rather than reading forever"
                )))
            }
            Next::Follow(c) => self.cursor = Some(c),
            Next::End => self.done = true,
            // A partial listing read as complete would plan on a third of the org.
            Next::Repeated(c) => {
                return Err(broken(format!(
                    "the listing sent cursor {c} again after {} pages of data; its answers \
                     are inconsistent, and a partial listing is never planned on (run again)",
                    self.pages_read
                )))
            }
        }
        Ok(Some(page.data))
    }

    /// Whether no page has been read yet: a failure then concerns the listing as a whole (for
    /// example an endpoint that is not served), not a page in the middle of it.
    pub(crate) fn before_first_page(&self) -> bool {
        self.pages_read == 0
    }
}

/// The most pages one listing reads: 20,000 pages is two million users at the users search's
/// 100 a page, or ten million events at 500, well past the largest org Atlassian supports.
pub(crate) const MAX_PAGES: usize = 20_000;

/// What to do after a page.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Next {
    /// Read the page at this cursor.
    Follow(String),
    /// The listing is complete: no cursor, or an empty page.
    End,
    /// A page with data named a cursor the server sent before: the listing loops.
    Repeated(String),
}

/// The next step after a page with (or without, `empty`) data and cursor `next`.
fn next_cursor(visited: &mut HashSet<String>, next: Option<String>, empty: bool) -> Next {
    match next {
        None => Next::End,
        Some(_) if empty => Next::End,
        Some(c) if visited.insert(c.clone()) => Next::Follow(c),
        Some(c) => Next::Repeated(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_cursor_is_an_error_and_empty_pages_end_the_paging() {
        let mut visited = HashSet::new();
        let next =
            |v: &mut HashSet<String>, c: &str, empty| next_cursor(v, Some(c.to_string()), empty);
        assert_eq!(next(&mut visited, "a", false), Next::Follow("a".into()));
        assert_eq!(next(&mut visited, "b", false), Next::Follow("b".into()));
        assert_eq!(
            next(&mut visited, "a", false),
            Next::Repeated("a".into()),
            "a cycle back to a seen cursor is a broken listing, not its end"
        );
        assert_eq!(
            next(&mut visited, "a", true),
            Next::End,
            "an empty page ends it"
        );
        assert_eq!(next_cursor(&mut visited, None, false), Next::End);
    }
}
