"""Backup and restore (dangan backup / dangan restore): see dangan.backup.service."""
