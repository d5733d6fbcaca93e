-- Device ids and file names compare exactly (binary NO PAD; see 20261202100000_hardening).

-- CreateTable
CREATE TABLE `device_status` (
    `device_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `agent_version` VARCHAR(64) NOT NULL,
    `reported_at` DATETIME(3) NOT NULL,
    `pending_rows` BIGINT NOT NULL,
    `oldest_unsynced` DATETIME(6) NULL,
    `quarantined_rows` BIGINT NOT NULL,
    `tables` JSON NOT NULL,
    `quarantine` JSON NOT NULL,

    PRIMARY KEY (`device_id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `backup_checks` (
    `device_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `type` ENUM('database', 'logs', 'config') NOT NULL,
    `filename` VARCHAR(255) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `matched` BOOLEAN NOT NULL,
    `method` ENUM('upload', 'rehash') NOT NULL,
    `checked_at` DATETIME(3) NOT NULL,

    PRIMARY KEY (`device_id`, `type`, `filename`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateIndex
CREATE INDEX `realtime_data_source_device_parameter_name_timestamp_value_idx` ON `realtime_data`(`source_device`, `parameter_name`, `timestamp`, `value`);

-- CreateIndex
CREATE INDEX `alert_log_source_device_timestamp_idx` ON `alert_log`(`source_device`, `timestamp`);
