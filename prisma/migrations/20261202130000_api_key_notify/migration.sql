-- API processes cache key → tenant lookups: a change of an ApiKey row's revocation, tenant or
-- hash, or its deletion (cascades included), notifies channel "trainyard_api_keys" with the
-- key's hash, and every API process drops that entry. NOTIFY is delivered at commit.
CREATE FUNCTION "trainyard_notify_api_key_change"() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('trainyard_api_keys', OLD."keyHash");
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "ApiKey_notify_change" AFTER UPDATE OF "revokedAt", "tenantId", "keyHash" OR DELETE ON "ApiKey"
  FOR EACH ROW EXECUTE FUNCTION "trainyard_notify_api_key_change"();
