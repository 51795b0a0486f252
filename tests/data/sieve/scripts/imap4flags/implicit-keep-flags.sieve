require ["imap4flags"];
setflag ["\\Flagged", "important"];
if header :contains "subject" "pills" { addflag "junk"; removeflag "important"; }
