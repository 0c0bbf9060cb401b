-- Run by the postgres image when its volume is first initialised (docker-entrypoint-initdb.d):
-- the database of docker-compose.yml's moto profile, apart from the simulated AWS's `berth`, so
-- that the two stacks' workers never claim each other's services.
create database berth_moto owner berth;
