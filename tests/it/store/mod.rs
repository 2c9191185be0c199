//! Integration tests of the store area. Most are one contract written over a `Store` and run
//! against both backends: `contract_tests!` turns each `fn name(backend: Backend)` into
//! `redb::name` and `postgres::name` (and `async_contract_tests!` each async one). The
//! Postgres half needs `BYOC_TEST_POSTGRES_URL` (scripts/test) and fails without it.

/// One `#[test]` per backend for each listed `fn(Backend)`, with the attributes written
/// before its name (`should_panic`…).
macro_rules! contract_tests {
    ($( $(#[$attr:meta])* $test:ident ),* $(,)?) => {
        mod redb {
            $(
                #[test]
                $(#[$attr])*
                fn $test() {
                    super::$test(crate::support::store::Backend::Redb);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                $(#[$attr])*
                fn $test() {
                    super::$test(crate::support::store::Backend::Postgres);
                }
            )*
        }
    };
}

/// One async test per backend for each listed `async fn(Backend)`, run by the tokio test
/// attribute written before its name.
macro_rules! async_contract_tests {
    ($( #[$runtime:meta] $test:ident ),* $(,)?) => {
        mod redb {
            $(
                #[$runtime]
                async fn $test() {
                    super::$test(crate::support::store::Backend::Redb).await;
                }
            )*
        }
        mod postgres {
            $(
                #[$runtime]
                async fn $test() {
                    super::$test(crate::support::store::Backend::Postgres).await;
                }
            )*
        }
    };
}

mod conversations;
mod postgres_only;
mod postgres_tls;
mod redb_file;
mod shared;
mod tables;
mod writer;
