DROP TABLE message_attachments;
DROP TABLE uploads;
DROP TABLE reactions;
DROP TABLE messages;
DROP TABLE room_bans;
DROP TABLE room_members;
DROP TABLE rooms;
