require ["imap4flags"];
addflag "one";
setflag "two";
addflag "\\Deleted";
