//! ModifyInstanceAttribute and DescribeUserData: an instance's name, description and what its
//! guest is given (host name, password, user data). The guest reads them at its next boot
//! through the metadata service, so ECS's rules apply: a Running or Stopped instance takes a new
//! host name or password (effective after a restart), user data only while Stopped.
//! ModifyInstanceMetadataOptions: whether the metadata service answers the instance, and whether it needs a token.

use super::Instances;
use crate::guest_settings::{Password, UserData};
use crate::requests::MetadataOptions;
use crate::status::InstanceStatus;
use crate::{Error, Result};
use ecslab_store::{AttributeChange, SettingsChange};

/// ModifyInstanceAttribute's parameters, checked by the parser; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifyInstanceAttribute {
    pub instance_id: String,
    pub instance_name: Option<String>,
    pub description: Option<String>,
    pub host_name: Option<String>,
    pub password: Option<Password>,
    pub user_data: Option<UserData>,
}

/// DescribeUserData's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceUserData {
    pub instance_id: String,
    /// Base64 as given; empty when the instance has none.
    pub user_data: String,
}

impl Instances {
    /// ModifyInstanceAttribute.
    pub async fn modify_attribute(&self, account_id: &str, request: ModifyInstanceAttribute) -> Result<()> {
        let instance = crate::lookup::instance(&self.store, account_id, &request.instance_id).await?;
        if instance.locked_for_security() {
            return Err(Error::InstanceLockedForSecurity { instance_id: instance.instance_id });
        }
        let wrong_status = || Error::IncorrectInstanceStatus {
            instance_id: instance.instance_id.clone(),
            status: instance.status.to_string(),
        };
        let settled = matches!(instance.status, InstanceStatus::Running | InstanceStatus::Stopped);
        if (request.password.is_some() || request.host_name.is_some()) && !settled {
            return Err(wrong_status());
        }
        if request.user_data.is_some() && instance.status != InstanceStatus::Stopped {
            return Err(wrong_status());
        }
        let attributes = AttributeChange {
            name: request.instance_name,
            description: request.description,
            host_name: request.host_name,
        };
        let settings = SettingsChange {
            key_pair_name: None,
            password_hash: request.password.as_ref().map(Password::hash).transpose()?.map(Some),
            user_data: request.user_data.map(|u| Some(u.into_base64())),
            ..SettingsChange::default()
        };
        self.store.modify_instance(account_id, &instance.instance_id, &attributes, &settings).await?;
        Ok(())
    }

    /// ModifyInstanceMetadataOptions: takes effect at once (the metadata service reads the options at each
    /// request), in any status but a security lock's.
    pub async fn modify_metadata_options(
        &self,
        account_id: &str,
        instance_id: &str,
        options: MetadataOptions,
    ) -> Result<()> {
        let instance = crate::lookup::instance(&self.store, account_id, instance_id).await?;
        if instance.locked_for_security() {
            return Err(Error::InstanceLockedForSecurity { instance_id: instance.instance_id });
        }
        let change = SettingsChange {
            http_endpoint: options.http_endpoint,
            http_tokens: options.http_tokens,
            ..SettingsChange::default()
        };
        self.store.change_instance_settings(account_id, &instance.instance_id, &change).await?;
        Ok(())
    }

    /// DescribeUserData.
    pub async fn user_data(&self, account_id: &str, instance_id: &str) -> Result<InstanceUserData> {
        let instance = crate::lookup::instance(&self.store, account_id, instance_id).await?;
        let ids = [instance.instance_id.clone()];
        let mut settings = self.store.instance_settings(account_id, &ids).await?;
        let user_data = settings.remove(&instance.instance_id).and_then(|s| s.user_data).unwrap_or_default();
        Ok(InstanceUserData { instance_id: instance.instance_id, user_data })
    }
}
