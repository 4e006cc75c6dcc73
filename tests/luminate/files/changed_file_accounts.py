"""The FTP account the test servers accept."""

USER = "datasync"
PASSWORD = "Pw-9f3Kq7-never-shown"
