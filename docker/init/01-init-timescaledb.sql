-- First-start initialisation of the LLM Observatory database.
--
-- Run by the TimescaleDB image's entrypoint (psql, as POSTGRES_USER, in POSTGRES_DB)
-- only when the data directory is empty. Role names and passwords come from the
-- container's environment through psql's \getenv, so .env is the one place to set
-- them. Tables are created later by the storage service's Alembic migrations; the
-- default privileges below give them the right grants when they appear.
\set ON_ERROR_STOP on

\getenv db_name POSTGRES_DB
\getenv owner POSTGRES_USER
\getenv app_user DB_APP_USER
\getenv app_password DB_APP_PASSWORD
\getenv readonly_user DB_READONLY_USER
\getenv readonly_password DB_READONLY_PASSWORD
\getenv grafana_user GRAFANA_DB_USER
\getenv grafana_password GRAFANA_DB_PASSWORD

\if :{?app_user} \else \set app_user llm_observatory_app \endif
\if :{?app_password} \else \set app_password app_dev_password \endif
\if :{?readonly_user} \else \set readonly_user llm_observatory_readonly \endif
\if :{?readonly_password} \else \set readonly_password readonly_dev_password \endif
\if :{?grafana_user} \else \set grafana_user grafana \endif
\if :{?grafana_password} \else \set grafana_password grafana_dev_password \endif

-- Extensions ------------------------------------------------------------------
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
-- Needs shared_preload_libraries to include pg_stat_statements (compose sets it).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

-- Roles -------------------------------------------------------------------------
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'app_user', :'app_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') \gexec

SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'readonly_user', :'readonly_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'readonly_user') \gexec

-- A second line of defence: even a grant given by mistake cannot make it write.
ALTER ROLE :"readonly_user" SET default_transaction_read_only = on;
-- Dashboards read pg_stat_statements and table sizes.
GRANT pg_read_all_stats TO :"readonly_user";

-- Privileges ------------------------------------------------------------------
GRANT CONNECT, TEMPORARY ON DATABASE :"db_name" TO :"app_user";
GRANT CONNECT ON DATABASE :"db_name" TO :"readonly_user";
GRANT USAGE ON SCHEMA public TO :"app_user", :"readonly_user";

GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO :"app_user";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_user";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"readonly_user";

-- Tables the owner creates later (migrations) get the same grants.
-- The app role inserts and reads; only the owner changes or deletes rows (retention,
-- deletion, migrations).
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT ON TABLES TO :"app_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT ON TABLES TO :"readonly_user";

-- Grafana's own backend database -------------------------------------------------
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'grafana_user', :'grafana_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'grafana_user') \gexec

SELECT format('CREATE DATABASE grafana OWNER %I', :'grafana_user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'grafana') \gexec
