//! Sinks that make one vendor request per item: a lost connection fails only that item, and once
//! the vendor asks to wait, the rest of the batch waits too instead of being sent into the limit.

use crate::http::{Request, Response};
use crate::types::{ConnectorError, Outcome};

/// Sends `request` and reads the vendor's answer with `read`; a lost connection or timeout is a
/// transient outcome for this item, any other transport error fails the call.
pub fn send(
    request: Request,
    read: impl FnOnce(&Response) -> Result<Outcome, ConnectorError>,
) -> Result<Outcome, ConnectorError> {
    match request.send() {
        Ok(response) => read(&response),
        Err(ConnectorError::Transient(why)) => Ok(Outcome::Transient(why)),
        Err(e) => Err(e),
    }
}

/// Runs `deliver` for each item in order. After an item gets `RetryAfter`, the remaining items
/// are not sent and get the same wait: the vendor would only refuse them too.
pub fn each<T>(
    items: &[T],
    mut deliver: impl FnMut(&T) -> Result<Outcome, ConnectorError>,
) -> Result<Vec<Outcome>, ConnectorError> {
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(items.len());
    for item in items {
        let outcome = match outcomes.last() {
            Some(wait @ Outcome::RetryAfter(_)) => wait.clone(),
            _ => deliver(item)?,
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_holds_back_the_rest_of_the_batch() {
        let mut calls = 0;
        let outcomes = each(&[1, 2, 3, 4], |n| {
            calls += 1;
            Ok(match n {
                2 => Outcome::RetryAfter(5000),
                _ => Outcome::Ok,
            })
        })
        .unwrap();
        assert_eq!(calls, 2);
        assert_eq!(
            outcomes,
            vec![
                Outcome::Ok,
                Outcome::RetryAfter(5000),
                Outcome::RetryAfter(5000),
                Outcome::RetryAfter(5000)
            ]
        );
        let failed = each(&[1, 2], |_| -> Result<Outcome, ConnectorError> {
            Err(ConnectorError::Auth("key revoked".into()))
        });
        assert_eq!(failed, Err(ConnectorError::Auth("key revoked".into())));
    }
}
