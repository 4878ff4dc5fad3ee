-- The store's schema at revision 0008 on SQLite, as the migration chain leaves it: the
-- statements of sqlite_master in creation order, then the version row. A new database is
-- made from it (migrate.py). Generated, do not edit; after adding a migration, run from
-- the repository root: PYTHONPATH=src python -m ductwork.store.migrate

CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

CREATE TABLE projects (
	id VARCHAR(32) NOT NULL, 
	name VARCHAR(512) NOT NULL, 
	system_tags JSON NOT NULL, 
	created FLOAT NOT NULL, 
	description TEXT DEFAULT '' NOT NULL, 
	CONSTRAINT pk_projects PRIMARY KEY (id), 
	CONSTRAINT uq_projects_name UNIQUE (name)
);

CREATE TABLE queues (
	id VARCHAR(32) NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	created FLOAT NOT NULL, user VARCHAR(256) DEFAULT '' NOT NULL, 
	CONSTRAINT pk_queues PRIMARY KEY (id), 
	CONSTRAINT uq_queues_name UNIQUE (name)
);

CREATE TABLE users (
	id VARCHAR(32) NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	password_hash VARCHAR(512), 
	admin BOOLEAN NOT NULL, 
	created FLOAT NOT NULL, role VARCHAR(16) DEFAULT 'user' NOT NULL, 
	CONSTRAINT pk_users PRIMARY KEY (id), 
	CONSTRAINT uq_users_name UNIQUE (name)
);

CREATE TABLE workers (
	id VARCHAR(256) NOT NULL, 
	queues JSON NOT NULL, 
	task_id VARCHAR(32), 
	started FLOAT NOT NULL, 
	heartbeat FLOAT NOT NULL, 
	host VARCHAR(256) NOT NULL, 
	pid INTEGER NOT NULL, 
	CONSTRAINT pk_workers PRIMARY KEY (id)
);

CREATE TABLE api_keys (
	id VARCHAR(64) NOT NULL, 
	secret_hash VARCHAR(512) NOT NULL, 
	user_id VARCHAR(32) NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	created FLOAT NOT NULL, 
	revoked FLOAT, kind VARCHAR(16) DEFAULT 'key' NOT NULL, last_used FLOAT, expires FLOAT, 
	CONSTRAINT pk_api_keys PRIMARY KEY (id), 
	CONSTRAINT fk_api_keys_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_api_keys_user_id ON api_keys (user_id);

CREATE TABLE tasks (
	id VARCHAR(32) NOT NULL, 
	name VARCHAR(512) NOT NULL, 
	project VARCHAR(32), 
	type VARCHAR(64) NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	status_message TEXT NOT NULL, 
	status_reason TEXT NOT NULL, 
	created FLOAT NOT NULL, 
	started FLOAT, 
	ended FLOAT, 
	updated FLOAT NOT NULL, 
	parent VARCHAR(32), 
	tags JSON NOT NULL, 
	system_tags JSON NOT NULL, 
	comment TEXT NOT NULL, 
	user VARCHAR(256) NOT NULL, 
	script JSON NOT NULL, 
	requirements JSON NOT NULL, 
	container JSON NOT NULL, 
	runtime JSON NOT NULL, 
	output_uri TEXT, 
	queue VARCHAR(256), 
	worker VARCHAR(256), 
	archived BOOLEAN NOT NULL, 
	progress INTEGER NOT NULL, 
	cache_key VARCHAR(128), 
	CONSTRAINT pk_tasks PRIMARY KEY (id), 
	CONSTRAINT fk_tasks_project_projects FOREIGN KEY(project) REFERENCES projects (id) ON DELETE SET NULL
);

CREATE INDEX ix_tasks_cache_key ON tasks (cache_key);

CREATE INDEX ix_tasks_created ON tasks (created);

CREATE INDEX ix_tasks_parent ON tasks (parent);

CREATE INDEX ix_tasks_project_name ON tasks (project, name);

CREATE INDEX ix_tasks_status ON tasks (status);

CREATE INDEX ix_tasks_type ON tasks (type);

CREATE INDEX ix_tasks_updated ON tasks (updated);

CREATE TABLE artifacts (
	task_id VARCHAR(32) NOT NULL, 
	name VARCHAR(512) NOT NULL, 
	type VARCHAR(64) NOT NULL, 
	mode VARCHAR(16) NOT NULL, 
	uri TEXT NOT NULL, 
	inline TEXT, 
	hash VARCHAR(128) NOT NULL, 
	size BIGINT NOT NULL, 
	content_type VARCHAR(256) NOT NULL, 
	preview TEXT NOT NULL, 
	metadata JSON NOT NULL, 
	timestamp FLOAT NOT NULL, 
	file_name VARCHAR(1024) DEFAULT '' NOT NULL, 
	CONSTRAINT pk_artifacts PRIMARY KEY (task_id, name), 
	CONSTRAINT fk_artifacts_task_id_tasks FOREIGN KEY(task_id) REFERENCES tasks (id) ON DELETE CASCADE
);

CREATE TABLE configs (
	task_id VARCHAR(32) NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	text TEXT NOT NULL, 
	type VARCHAR(64) NOT NULL, 
	description TEXT NOT NULL, 
	CONSTRAINT pk_configs PRIMARY KEY (task_id, name), 
	CONSTRAINT fk_configs_task_id_tasks FOREIGN KEY(task_id) REFERENCES tasks (id) ON DELETE CASCADE
);

CREATE TABLE console (
	task_id VARCHAR(32) NOT NULL, 
	seq INTEGER NOT NULL, 
	text TEXT NOT NULL, 
	stream VARCHAR(16) NOT NULL, 
	ts FLOAT NOT NULL, 
	CONSTRAINT pk_console PRIMARY KEY (task_id, seq), 
	CONSTRAINT fk_console_task_id_tasks FOREIGN KEY(task_id) REFERENCES tasks (id) ON DELETE CASCADE
);

CREATE TABLE models (
	id VARCHAR(32) NOT NULL, 
	name VARCHAR(512) NOT NULL, 
	project VARCHAR(32), 
	task_id VARCHAR(32), 
	framework VARCHAR(128) NOT NULL, 
	uri TEXT NOT NULL, 
	hash VARCHAR(128) NOT NULL, 
	size BIGINT NOT NULL, 
	tags JSON NOT NULL, 
	comment TEXT NOT NULL, 
	config_text TEXT NOT NULL, 
	labels JSON NOT NULL, 
	published BOOLEAN NOT NULL, 
	created FLOAT NOT NULL, user VARCHAR(256) DEFAULT '' NOT NULL, 
	CONSTRAINT pk_models PRIMARY KEY (id), 
	CONSTRAINT fk_models_project_projects FOREIGN KEY(project) REFERENCES projects (id) ON DELETE SET NULL, 
	CONSTRAINT fk_models_task_id_tasks FOREIGN KEY(task_id) REFERENCES tasks (id) ON DELETE SET NULL
);

CREATE INDEX ix_models_name ON models (name);

CREATE INDEX ix_models_project_name ON models (project, name);

CREATE INDEX ix_models_task_id ON models (task_id);

CREATE TABLE nodes (
	id INTEGER NOT NULL, 
	run_id VARCHAR(32) NOT NULL, 
	name VARCHAR(512) NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	task_id VARCHAR(32), 
	started FLOAT, 
	ended FLOAT, 
	attempt INTEGER NOT NULL, 
	cache_key VARCHAR(128) NOT NULL, 
	cache_note TEXT NOT NULL, 
	message TEXT NOT NULL, 
	updated FLOAT NOT NULL, 
	CONSTRAINT pk_nodes PRIMARY KEY (id), 
	CONSTRAINT fk_nodes_run_id_tasks FOREIGN KEY(run_id) REFERENCES tasks (id) ON DELETE CASCADE, 
	CONSTRAINT uq_nodes_run_id_name UNIQUE (run_id, name)
);

CREATE INDEX ix_nodes_updated ON nodes (updated);

CREATE TABLE params (
	task_id VARCHAR(32) NOT NULL, 
	section VARCHAR(256) NOT NULL, 
	name VARCHAR(512) NOT NULL, 
	value TEXT NOT NULL, 
	type VARCHAR(128) NOT NULL, 
	description TEXT NOT NULL, 
	CONSTRAINT pk_params PRIMARY KEY (task_id, section, name), 
	CONSTRAINT fk_params_task_id_tasks FOREIGN KEY(task_id) REFERENCES tasks (id) ON DELETE CASCADE
);

CREATE TABLE queue_entries (
	id INTEGER NOT NULL, 
	queue_id VARCHAR(32) NOT NULL, 
	task_id VARCHAR(32) NOT NULL, 
	priority INTEGER NOT NULL, 
	added FLOAT NOT NULL, 
	CONSTRAINT pk_queue_entries PRIMARY KEY (id), 
	CONSTRAINT fk_queue_entries_queue_id_queues FOREIGN KEY(queue_id) REFERENCES queues (id) ON DELETE CASCADE, 
	CONSTRAINT fk_queue_entries_task_id_tasks FOREIGN KEY(task_id) REFERENCES tasks (id) ON DELETE CASCADE, 
	CONSTRAINT uq_queue_entries_task_id UNIQUE (task_id)
);

CREATE INDEX ix_queue_entries_queue_id_priority_added ON queue_entries (queue_id, priority, added);

CREATE TABLE task_models (
	id INTEGER NOT NULL, 
	task_id VARCHAR(32) NOT NULL, 
	model_id VARCHAR(32) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	name VARCHAR(512) NOT NULL, 
	CONSTRAINT pk_task_models PRIMARY KEY (id), 
	CONSTRAINT fk_task_models_model_id_models FOREIGN KEY(model_id) REFERENCES models (id) ON DELETE CASCADE, 
	CONSTRAINT fk_task_models_task_id_tasks FOREIGN KEY(task_id) REFERENCES tasks (id) ON DELETE CASCADE, 
	CONSTRAINT uq_task_models_task_id_role_name UNIQUE (task_id, role, name)
);

CREATE INDEX ix_task_models_model_id ON task_models (model_id);

CREATE TABLE login_failures (
	subject VARCHAR(320) NOT NULL, 
	count INTEGER NOT NULL, 
	first FLOAT NOT NULL, 
	blocked_until FLOAT NOT NULL, 
	CONSTRAINT pk_login_failures PRIMARY KEY (subject)
);

CREATE TABLE series (
	id INTEGER NOT NULL, 
	task_id VARCHAR(32) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	title VARCHAR(512) NOT NULL, 
	series VARCHAR(512) NOT NULL, 
	CONSTRAINT pk_series PRIMARY KEY (id), 
	CONSTRAINT uq_series_task_id_kind_title_series UNIQUE (task_id, kind, title, series)
);

CREATE TABLE chunks (
	id INTEGER NOT NULL, 
	series_id INTEGER NOT NULL, 
	low BIGINT NOT NULL, 
	high BIGINT NOT NULL, 
	last_iteration BIGINT, 
	last_value FLOAT, 
	iterations BLOB NOT NULL, 
	numbers BLOB NOT NULL, 
	nulls BLOB, 
	times BLOB NOT NULL, 
	payloads JSON, 
	CONSTRAINT pk_chunks PRIMARY KEY (id)
);

CREATE INDEX ix_chunks_series_id_last_iteration ON chunks (series_id, last_iteration);

CREATE INDEX ix_tasks_project_created_id ON tasks (project, created, id);

INSERT INTO alembic_version (version_num) VALUES ('0008');
