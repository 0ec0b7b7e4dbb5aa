-- First-start initialisation of the LLM Observatory database: extensions, roles,
-- privileges, the monitoring functions Grafana reads, Grafana's own database.
--
-- Run by the TimescaleDB image's entrypoint (psql, as POSTGRES_USER, in POSTGRES_DB)
-- only when the data directory is empty. Role names and passwords come from the
-- container's environment through psql's \getenv, so .env is the one place to set
-- them; a password's <NAME>_FILE variable (a Docker secret), when set, is read instead. Tables are created later by the storage service's Alembic migrations, which
-- grant the app role what it uses; the default privileges below give the read-only
-- role SELECT on each.
--
-- Running it again on an existing database is safe and brings its roles' privileges
-- and the monitoring functions up to date (passwords of existing roles are kept):
--   docker compose exec timescaledb sh -c 'psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" \
--     -d "$POSTGRES_DB" -f /docker-entrypoint-initdb.d/01-init-timescaledb.sql'
\set ON_ERROR_STOP on

\getenv db_name POSTGRES_DB
\getenv owner POSTGRES_USER
\getenv app_user DB_APP_USER
\getenv app_password DB_APP_PASSWORD
\getenv readonly_user DB_READONLY_USER
\getenv readonly_password DB_READONLY_PASSWORD
\getenv grafana_user GRAFANA_DB_USER
\getenv grafana_password GRAFANA_DB_PASSWORD
\getenv replication_user DB_REPLICATION_USER
\getenv replication_password DB_REPLICATION_PASSWORD

\getenv app_password_file DB_APP_PASSWORD_FILE
\getenv readonly_password_file DB_READONLY_PASSWORD_FILE
\getenv grafana_password_file GRAFANA_DB_PASSWORD_FILE
\getenv replication_password_file DB_REPLICATION_PASSWORD_FILE
\if :{?app_password_file} \set app_password `cat :'app_password_file'` \endif
\if :{?readonly_password_file} \set readonly_password `cat :'readonly_password_file'` \endif
\if :{?grafana_password_file} \set grafana_password `cat :'grafana_password_file'` \endif
\if :{?replication_password_file} \set replication_password `cat :'replication_password_file'` \endif

\if :{?app_user} \else \set app_user llm_observatory_app \endif
\if :{?app_password} \else \set app_password app_dev_password \endif
\if :{?readonly_user} \else \set readonly_user llm_observatory_readonly \endif
\if :{?readonly_password} \else \set readonly_password readonly_dev_password \endif
\if :{?grafana_user} \else \set grafana_user grafana \endif
\if :{?grafana_password} \else \set grafana_password grafana_dev_password \endif
\if :{?replication_user} \else \set replication_user llm_observatory_replication \endif
\if :{?replication_password} \else \set replication_password replication_dev_password \endif

-- This session's statements carry passwords (CREATE ROLE ... PASSWORD): none of them
-- may reach the server log or pg_stat_statements, whatever the server's settings. A
-- superuser may change these for its own session.
SET log_statement = 'none';
SET log_duration = off;
SET log_min_duration_statement = -1;
SET log_min_error_statement = 'panic';
SET pg_stat_statements.track = 'none';
SET pg_stat_statements.track_utility = off;

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

-- Streaming replicas (timescaledb-replica, docker/replica/) copy and follow the
-- database as this role: REPLICATION and nothing else (no CONNECT on any database).
SELECT format('CREATE ROLE %I LOGIN REPLICATION PASSWORD %L', :'replication_user',
              :'replication_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'replication_user') \gexec

-- Replication connections match only `replication` lines of pg_hba.conf (the image
-- writes `host all all all`, which does not cover them): one for this role, from any
-- address, with its password. psql runs beside the server (init, or the exec above),
-- so it appends to the server's own file, once, and reloads.
SELECT current_setting('hba_file') AS hba_file \gset
\setenv LLMO_HBA_FILE :hba_file
\setenv LLMO_REPLICATION_USER :replication_user
\! grep -qs "^host replication $LLMO_REPLICATION_USER all " "$LLMO_HBA_FILE" || printf '\n# Streaming replicas (01-init-timescaledb.sql)\nhost replication %s all scram-sha-256\n' "$LLMO_REPLICATION_USER" >> "$LLMO_HBA_FILE"
SELECT format($check$
DO $body$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_hba_file_rules
                   WHERE error IS NULL AND 'replication' = ANY (database)
                     AND %L = ANY (user_name)) THEN
        RAISE EXCEPTION 'pg_hba.conf has no replication line for %%', %L;
    END IF;
END $body$
$check$, :'replication_user', :'replication_user') \gexec
-- The init-time server listens on no address and is restarted right after: only a
-- running server (the re-run) needs the reload.
SELECT current_setting('listen_addresses') <> '' AS serving \gset
\if :serving
SELECT pg_reload_conf() AS reloaded \gset
\endif

-- Grants are what keep the read-only role from writing: it has SELECT and nothing
-- else. Read-only transactions by default are a convenience on top (a client can turn
-- them off with SET default_transaction_read_only = off, and still cannot write).
ALTER ROLE :"readonly_user" SET default_transaction_read_only = on;
-- It reads statistics through the monitoring functions below, not pg_read_all_stats:
-- that role shows every role's statements, and utility statements keep their text.
REVOKE pg_read_all_stats FROM :"readonly_user";

-- Privileges ------------------------------------------------------------------
-- Only the roles granted below connect; nobody creates objects in public but the
-- owner, and nobody but the app role (COPY staging) creates temporary tables.
REVOKE ALL ON DATABASE :"db_name" FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db_name" TO :"app_user";
GRANT CONNECT ON DATABASE :"db_name" TO :"readonly_user";
GRANT USAGE ON SCHEMA public TO :"app_user", :"readonly_user";

-- The read-only role reads every table the owner creates (migrations). The app role
-- gets no default: each migration grants it what storage uses (INSERT and SELECT on
-- the signal tables, INSERT on rejected_records), so a new table, alembic_version
-- included, is not writable by it. Earlier versions of this script gave it defaults.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT ON TABLES TO :"readonly_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    REVOKE ALL ON TABLES FROM :"app_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    REVOKE ALL ON SEQUENCES FROM :"app_user";

-- Monitoring ------------------------------------------------------------------------
-- What the Database dashboard shows, as functions that run as the owner and return
-- statistics without other roles' secrets. Schema monitoring is left out of backups
-- (cli/backup.py): this script creates it, with the role names of this stack.
CREATE SCHEMA IF NOT EXISTS monitoring AUTHORIZATION :"owner";
REVOKE ALL ON SCHEMA monitoring FROM PUBLIC;
GRANT USAGE ON SCHEMA monitoring TO :"readonly_user";

-- pg_stat_statements of this database, for the application's own roles and only their
-- plannable statements (SELECT, INSERT, UPDATE, DELETE, WITH, VALUES, TABLE), whose
-- text pg_stat_statements stores with constants replaced by $1, $2... Utility
-- statements (CREATE ROLE, ALTER ROLE ... PASSWORD, COPY, SET) keep their text as
-- sent, and the owner runs them: neither is shown.
SELECT format($function$
CREATE OR REPLACE FUNCTION monitoring.statement_stats()
RETURNS TABLE (role name, query text, calls bigint, mean_ms double precision,
               max_ms double precision, total_ms double precision, rows bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT r.rolname, s.query, s.calls, s.mean_exec_time, s.max_exec_time,
           s.total_exec_time, s.rows
    FROM public.pg_stat_statements AS s
    JOIN pg_catalog.pg_roles AS r ON r.oid = s.userid
    WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database
                    WHERE datname = pg_catalog.current_database())
      AND r.rolname IN (%L, %L)
      AND s.toplevel
      AND s.query ~* '^\s*(select|insert|update|delete|with|values|table)\M'
$body$
$function$, :'app_user', :'readonly_user') \gexec

-- Connections to this database by role and state (pg_stat_activity hides the state
-- of other roles' sessions from the read-only role); no query texts.
CREATE OR REPLACE FUNCTION monitoring.connections()
RETURNS TABLE (role name, state text, connections bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT coalesce(usename, '(background)'), coalesce(state, '-'), count(*)
    FROM pg_catalog.pg_stat_activity
    WHERE datname = pg_catalog.current_database()
    GROUP BY 1, 2
$body$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA monitoring FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA monitoring TO :"readonly_user";

-- Grafana's own backend database -------------------------------------------------
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'grafana_user', :'grafana_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'grafana_user') \gexec

SELECT format('CREATE DATABASE grafana OWNER %I', :'grafana_user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'grafana') \gexec

-- Grafana's users, sessions and data source secrets: its own role only.
REVOKE ALL ON DATABASE grafana FROM PUBLIC;
