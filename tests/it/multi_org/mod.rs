//! Integration tests of several orgs on one fake Salesforce: connectors for different orgs
//! side by side, each seeing only its own org.

mod two_connectors;
