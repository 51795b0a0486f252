require ["imap4flags", "fileinto"];
addflag "\\Seen";
if exists "list-id" { addflag "list"; }
fileinto "A";
removeflag "\\Seen";
fileinto "B";
