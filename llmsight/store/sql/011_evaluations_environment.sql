-- v2: scores carry the call's deployment environment, so quality can be filtered like usage.
ALTER TABLE ${db}.evaluations ADD COLUMN IF NOT EXISTS Environment LowCardinality(String) DEFAULT '' AFTER ServiceName
