//! DynamoDB adapter for signs and their evidence events.
//!
//! Single-table design. Every sign has its own partition, `pk = SIGN#<org_id>#<sign_id>`, so load
//! spreads across partitions however large an org is, and a sign's record and events sit together:
//! `sk = SIGN` for the record, `sk = EVENT#<seq, 20 digits>` for each event (sorted by `seq`).
//! State changes are transactions conditional on the record's `version`.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, SseSpecification, TimeToLiveSpecification, TransactWriteItem,
};

use super::{CommitError, SignAdmin, SignReader, SignUpdate, SignWriter, StoreError};
use crate::evidence::EvidenceEvent;
use crate::ids::SignKey;
use crate::model::SignRecord;

pub const PARTITION_KEY: &str = "pk";
pub const SORT_KEY: &str = "sk";
/// TTL is enabled on this attribute, which this service never sets: the platform's retention
/// process may set it on a sign's items once their legal retention period is over.
pub const TTL_ATTRIBUTE: &str = "purge_at";
const RECORD_SORT_KEY: &str = "SIGN";
const EVENT_SORT_PREFIX: &str = "EVENT#";

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoSignStore {
    client: Client,
    table: String,
}

fn partition(org_id: &str, sign_id: &str) -> AttributeValue {
    AttributeValue::S(format!("SIGN#{org_id}#{sign_id}"))
}

fn event_sort_key(seq: u64) -> AttributeValue {
    AttributeValue::S(format!("{EVENT_SORT_PREFIX}{seq:020}"))
}

fn sdk_error<E: std::error::Error + 'static>(operation: &str, e: E) -> StoreError {
    StoreError::new(format!("dynamodb {operation}: {}", DisplayErrorContext(e)))
}

fn to_item<T: serde::Serialize>(
    value: &T,
    pk: AttributeValue,
    sk: AttributeValue,
) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value)
        .map_err(|e| StoreError::new(format!("cannot encode item: {e}")))?;
    item.insert(PARTITION_KEY.into(), pk);
    item.insert(SORT_KEY.into(), sk);
    Ok(item)
}

fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item)
        .map_err(|e| StoreError::new(format!("stored item is corrupt: {e}")))
}

fn from_items<T: serde::de::DeserializeOwned>(items: Vec<Item>) -> Result<Vec<T>, StoreError> {
    items.into_iter().map(from_item).collect()
}

impl DynamoSignStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The primary key of event `seq` of a sign (for tools and tests that reach the table
    /// directly).
    pub fn event_key(org_id: &str, sign_id: &str, seq: u64) -> Item {
        HashMap::from([
            (PARTITION_KEY.to_owned(), partition(org_id, sign_id)),
            (SORT_KEY.to_owned(), event_sort_key(seq)),
        ])
    }

    fn record_put(&self, sign: &SignRecord) -> Result<Put, StoreError> {
        let item = to_item(
            sign,
            partition(&sign.org_id, &sign.sign_id),
            AttributeValue::S(RECORD_SORT_KEY.into()),
        )?;
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(|e| StoreError::new(e.to_string()))
    }

    /// Creates the table as `template.yaml` declares it (keys, on-demand billing, encryption,
    /// TTL, point-in-time recovery), for `biosign init` against any DynamoDB endpoint.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::new(e.to_string()))
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::new(e.to_string()))
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attribute(PARTITION_KEY)?)
            .attribute_definitions(attribute(SORT_KEY)?)
            .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
            .key_schema(key(SORT_KEY, KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .sse_specification(SseSpecification::builder().enabled(true).build())
            .deletion_protection_enabled(true)
            .send()
            .await
            .map_err(|e| sdk_error("CreateTable", e))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL_ATTRIBUTE)
                    .enabled(true)
                    .build()
                    .map_err(|e| StoreError::new(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| sdk_error("UpdateTimeToLive", e))?;
        self.client
            .update_continuous_backups()
            .table_name(&self.table)
            .point_in_time_recovery_specification(
                aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()
                    .map_err(|e| StoreError::new(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| sdk_error("UpdateContinuousBackups", e))?;
        Ok(())
    }
}

impl SignReader for DynamoSignStore {
    async fn get_sign(&self, key: &SignKey) -> Result<Option<SignRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, partition(&key.org_id, &key.sign_id))
            .key(SORT_KEY, AttributeValue::S(RECORD_SORT_KEY.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        output.item.map(from_item).transpose()
    }
}

fn is_conflict(error: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>) -> bool {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            cancelled.cancellation_reasons().iter().any(|r| {
                matches!(
                    r.code(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            })
        }
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
        _ => false,
    }
}

impl SignWriter for DynamoSignStore {
    async fn commit(&self, update: &SignUpdate) -> Result<(), CommitError> {
        // The record is replaced only if it is still at the version the decision was based on.
        let mut record = self.record_put(&update.sign)?;
        record.condition_expression = Some("#version = :expected".into());
        record.expression_attribute_names =
            Some(HashMap::from([("#version".into(), "version".into())]));
        record.expression_attribute_values = Some(HashMap::from([(
            ":expected".into(),
            AttributeValue::N(update.expected_version.to_string()),
        )]));
        let mut request = self
            .client
            .transact_write_items()
            .client_request_token(update.idempotency_token())
            .transact_items(TransactWriteItem::builder().put(record).build());
        if let Some(event) = &update.event {
            // Events are never overwritten: the put fails if the (pk, sk) already exists.
            let item = to_item(
                event,
                partition(&event.org_id, &event.sign_id),
                event_sort_key(event.seq),
            )?;
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .build()
                .map_err(|e| StoreError::new(e.to_string()))?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Err(CommitError::Conflict),
            Err(e) => Err(sdk_error("TransactWriteItems", e).into()),
        }
    }
}

impl SignAdmin for DynamoSignStore {
    async fn create_sign(&self, sign: &SignRecord) -> Result<(), CommitError> {
        let put = self.record_put(sign)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(put.item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(CommitError::Conflict)
            }
            Err(e) => Err(sdk_error("PutItem", e).into()),
        }
    }

    /// A Scan filtered on `sk = SIGN` (and the org's partition prefix): it reads the whole table,
    /// which is acceptable for an operator's tool run now and then, never for a request path.
    async fn list_signs(
        &self,
        org: Option<&crate::ids::OrgId>,
    ) -> Result<Vec<SignRecord>, StoreError> {
        let prefix = match org {
            Some(org) => format!("SIGN#{org}#"),
            None => "SIGN#".into(),
        };
        // The SDK's paginator follows LastEvaluatedKey until a page has none (or an empty one).
        let items = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("#sk = :record AND begins_with(#pk, :prefix)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":record", AttributeValue::S(RECORD_SORT_KEY.into()))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("Scan", e))?;
        from_items(items)
    }

    async fn list_events(&self, key: &SignKey) -> Result<Vec<EvidenceEvent>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":pk", partition(&key.org_id, &key.sign_id))
            .expression_attribute_values(":prefix", AttributeValue::S(EVENT_SORT_PREFIX.into()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        from_items(items)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::{
        InternalServerError, TransactionCanceledException, TransactionInProgressException,
    };
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn service_error(
        error: TransactWriteItemsError,
    ) -> SdkError<TransactWriteItemsError, Response> {
        let status = StatusCode::try_from(400).unwrap();
        SdkError::service_error(error, Response::new(status, SdkBody::empty()))
    }

    fn cancelled(codes: &[Option<&str>]) -> SdkError<TransactWriteItemsError, Response> {
        let reasons = codes
            .iter()
            .map(|code| {
                CancellationReason::builder()
                    .set_code(code.map(str::to_owned))
                    .build()
            })
            .collect();
        service_error(TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .set_cancellation_reasons(Some(reasons))
                .build(),
        ))
    }

    /// A conflict is a lost race (the decision is retried on a fresh read); anything else is
    /// the store failing (a 503 after the SDK's own retries).
    #[test]
    fn a_commit_conflicts_only_when_dynamodb_says_another_write_won() {
        for codes in [
            &[Some("ConditionalCheckFailed")][..],
            &[Some("None"), Some("ConditionalCheckFailed")],
            &[Some("TransactionConflict"), Some("None")],
        ] {
            assert!(is_conflict(&cancelled(codes)), "{codes:?}");
        }
        let in_progress = TransactWriteItemsError::TransactionInProgressException(
            TransactionInProgressException::builder().build(),
        );
        assert!(is_conflict(&service_error(in_progress)));

        for codes in [
            &[Some("ThrottlingError")][..],
            &[Some("None"), Some("ValidationError")],
            &[None],
            &[],
        ] {
            assert!(!is_conflict(&cancelled(codes)), "{codes:?}");
        }
        let internal =
            TransactWriteItemsError::InternalServerError(InternalServerError::builder().build());
        assert!(!is_conflict(&service_error(internal)));
        let timeout: SdkError<TransactWriteItemsError, Response> =
            SdkError::timeout_error("no answer");
        assert!(!is_conflict(&timeout));
    }
}
