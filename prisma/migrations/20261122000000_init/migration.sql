-- CreateTable
CREATE TABLE `realtime_data` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_id` BIGINT NOT NULL,
    `source_device` VARCHAR(64) NOT NULL,
    `synced_at` DATETIME(3) NOT NULL,
    `sync_batch_id` VARCHAR(64) NOT NULL,
    `timestamp` DATETIME(6) NOT NULL,
    `parameter_name` VARCHAR(128) NOT NULL,
    `value` DOUBLE NOT NULL,
    `unit` VARCHAR(64) NULL,
    `profile_id` VARCHAR(64) NULL,
    `data_source` VARCHAR(32) NULL,
    `drive_id` INTEGER NULL,

    INDEX `realtime_data_source_device_profile_id_idx`(`source_device`, `profile_id`),
    UNIQUE INDEX `realtime_data_source_device_source_id_key`(`source_device`, `source_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `statistics` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_id` BIGINT NOT NULL,
    `source_device` VARCHAR(64) NOT NULL,
    `synced_at` DATETIME(3) NOT NULL,
    `sync_batch_id` VARCHAR(64) NOT NULL,
    `parameter_name` VARCHAR(128) NOT NULL,
    `analysis_date` DATETIME(6) NOT NULL,
    `profile_id` VARCHAR(64) NOT NULL,
    `max_value` DOUBLE NULL,
    `min_value` DOUBLE NULL,
    `avg_value` DOUBLE NULL,
    `mode_value` DOUBLE NULL,
    `std_1` DOUBLE NULL,
    `std_2` DOUBLE NULL,
    `outlier_min` DOUBLE NULL,
    `outlier_max` DOUBLE NULL,
    `sample_count` INTEGER NULL,
    `created_at` DATETIME(6) NOT NULL,
    `data_source` VARCHAR(32) NULL,
    `drive_id` INTEGER NULL,

    INDEX `statistics_source_device_profile_id_idx`(`source_device`, `profile_id`),
    UNIQUE INDEX `statistics_source_device_source_id_key`(`source_device`, `source_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `profiles` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_id` VARCHAR(64) NOT NULL,
    `source_device` VARCHAR(64) NOT NULL,
    `synced_at` DATETIME(3) NOT NULL,
    `sync_batch_id` VARCHAR(64) NOT NULL,
    `name` VARCHAR(255) NOT NULL,
    `description` TEXT NULL,
    `polling_interval_ms` INTEGER NULL,
    `created_at` DATETIME(6) NOT NULL,
    `updated_at` DATETIME(6) NOT NULL,
    `data_source` VARCHAR(32) NULL,

    UNIQUE INDEX `profiles_source_device_source_id_key`(`source_device`, `source_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `vehicle_info` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_id` VARCHAR(64) NOT NULL,
    `source_device` VARCHAR(64) NOT NULL,
    `synced_at` DATETIME(3) NOT NULL,
    `sync_batch_id` VARCHAR(64) NOT NULL,
    `make` VARCHAR(255) NULL,
    `model` VARCHAR(255) NULL,
    `year` INTEGER NULL,
    `engine` VARCHAR(255) NULL,
    `fuel_type` VARCHAR(255) NULL,
    `transmission` VARCHAR(255) NULL,
    `drive_type` VARCHAR(255) NULL,
    `body_class` VARCHAR(255) NULL,
    `plant_city` VARCHAR(255) NULL,
    `plant_country` VARCHAR(255) NULL,
    `raw_api_response` MEDIUMTEXT NULL,
    `created_at` DATETIME(6) NOT NULL,
    `updated_at` DATETIME(6) NOT NULL,

    UNIQUE INDEX `vehicle_info_source_device_source_id_key`(`source_device`, `source_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `ai_recommendations` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_id` BIGINT NOT NULL,
    `source_device` VARCHAR(64) NOT NULL,
    `synced_at` DATETIME(3) NOT NULL,
    `sync_batch_id` VARCHAR(64) NOT NULL,
    `timestamp` DATETIME(6) NOT NULL,
    `recommendation` MEDIUMTEXT NOT NULL,
    `priority_rank` INTEGER NULL,
    `is_duplicate_of` BIGINT NULL,
    `profile_id` VARCHAR(64) NULL,
    `created_at` DATETIME(6) NOT NULL,

    INDEX `ai_recommendations_source_device_profile_id_idx`(`source_device`, `profile_id`),
    UNIQUE INDEX `ai_recommendations_source_device_source_id_key`(`source_device`, `source_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `connection_log` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_id` BIGINT NOT NULL,
    `source_device` VARCHAR(64) NOT NULL,
    `synced_at` DATETIME(3) NOT NULL,
    `sync_batch_id` VARCHAR(64) NOT NULL,
    `timestamp` DATETIME(6) NOT NULL,
    `event_type` VARCHAR(64) NOT NULL,
    `mac_address` VARCHAR(255) NULL,
    `success` INTEGER NOT NULL,
    `error_message` TEXT NULL,
    `retry_count` INTEGER NULL,
    `data_source` VARCHAR(32) NULL,
    `drive_id` INTEGER NULL,

    UNIQUE INDEX `connection_log_source_device_source_id_key`(`source_device`, `source_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `alert_log` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_id` BIGINT NOT NULL,
    `source_device` VARCHAR(64) NOT NULL,
    `synced_at` DATETIME(3) NOT NULL,
    `sync_batch_id` VARCHAR(64) NOT NULL,
    `timestamp` DATETIME(6) NOT NULL,
    `alert_type` VARCHAR(64) NOT NULL,
    `parameter_name` VARCHAR(128) NOT NULL,
    `value` DOUBLE NOT NULL,
    `threshold` DOUBLE NOT NULL,
    `profile_id` VARCHAR(64) NULL,
    `drive_id` INTEGER NULL,

    INDEX `alert_log_source_device_profile_id_idx`(`source_device`, `profile_id`),
    UNIQUE INDEX `alert_log_source_device_source_id_key`(`source_device`, `source_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `calibration_sessions` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_id` BIGINT NOT NULL,
    `source_device` VARCHAR(64) NOT NULL,
    `synced_at` DATETIME(3) NOT NULL,
    `sync_batch_id` VARCHAR(64) NOT NULL,
    `start_time` DATETIME(6) NOT NULL,
    `end_time` DATETIME(6) NULL,
    `notes` TEXT NULL,
    `profile_id` VARCHAR(64) NULL,
    `created_at` DATETIME(6) NOT NULL,
    `data_source` VARCHAR(32) NULL,

    INDEX `calibration_sessions_source_device_profile_id_idx`(`source_device`, `profile_id`),
    UNIQUE INDEX `calibration_sessions_source_device_source_id_key`(`source_device`, `source_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `sync_history` (
    `batch_id` VARCHAR(64) NOT NULL,
    `device_id` VARCHAR(64) NOT NULL,
    `started_at` DATETIME(3) NOT NULL,
    `completed_at` DATETIME(3) NULL,
    `tables_synced` JSON NOT NULL,
    `rows_inserted` INTEGER NOT NULL DEFAULT 0,
    `rows_updated` INTEGER NOT NULL DEFAULT 0,
    `status` ENUM('success', 'failed', 'partial') NOT NULL,

    INDEX `sync_history_status_completed_at_idx`(`status`, `completed_at`),
    INDEX `sync_history_device_id_started_at_idx`(`device_id`, `started_at`),
    PRIMARY KEY (`batch_id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `analysis_history` (
    `analysis_id` BIGINT NOT NULL AUTO_INCREMENT,
    `device_id` VARCHAR(64) NOT NULL,
    `profile_source_id` VARCHAR(64) NULL,
    `drive_start` DATETIME(6) NOT NULL,
    `drive_end` DATETIME(6) NOT NULL,
    `model` VARCHAR(128) NOT NULL,
    `processing_time_ms` INTEGER NULL,
    `status` ENUM('pending', 'running', 'completed', 'failed') NOT NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    INDEX `analysis_history_device_id_drive_start_idx`(`device_id`, `drive_start`),
    PRIMARY KEY (`analysis_id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `devices` (
    `device_id` VARCHAR(64) NOT NULL,
    `display_name` VARCHAR(255) NULL,
    `last_seen` DATETIME(3) NULL,
    `api_key_hash` VARCHAR(255) NULL,
    `last_drive_id` INTEGER NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    PRIMARY KEY (`device_id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
