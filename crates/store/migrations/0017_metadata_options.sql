-- The instance metadata service's options per instance (ECS's HttpEndpoint and HttpTokens, set by RunInstances and
-- ModifyInstanceMetadataOptions): whether it answers the instance, and whether reads need a session token.
ALTER TABLE instance_settings ADD COLUMN http_endpoint TEXT NOT NULL DEFAULT 'enabled';
ALTER TABLE instance_settings ADD COLUMN http_tokens TEXT NOT NULL DEFAULT 'optional';
