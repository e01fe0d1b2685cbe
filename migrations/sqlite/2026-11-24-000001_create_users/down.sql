DROP TABLE user_details;
DROP TABLE users;
